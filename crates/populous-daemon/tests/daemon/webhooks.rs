//! Which plugin requests are webhook events: the events the daemon records
//! (read back from the store), with a hook pointed at a closed port so they
//! stay pending. Sending, signing and retrying are tested end to end in
//! `populous-cli`'s `webhooks` tests, with a real receiver.

use std::time::Duration;

use populous_daemon::config::WebhookConfig;
use populous_engine::{Engine, EventKind};
use serde_json::{json, Value};

use crate::common::{call, named, plugins_config, setup, Pool, Server};

/// The plugin's Create (not when it reuses a volume) is `create`; Remove
/// with destroyOnRm, and the last Unmount with destroyOnDetach, `destroy`;
/// a Remove that only takes a volume offline is nothing.
pub fn plugin_requests_are_events(pool: Pool) {
    let (lab, t) = setup(pool);
    let secret = lab.path().join("hook.secret");
    std::fs::write(&secret, "k").expect("secret");
    let mut config = plugins_config(&lab, &t);
    config.webhooks = vec![WebhookConfig {
        name: "rx".into(),
        // Nobody listens on port 1: every attempt fails and the deliveries stay pending.
        url: "http://127.0.0.1:1/".into(),
        secret_file: secret,
        events: EventKind::ALL.to_vec(),
        timeout: Duration::from_secs(1),
        max_attempts: 100,
    }];
    let srv = Server::start(&lab.home(), config);
    let sock = srv.sockets[0].clone();

    assert_eq!(named(&sock, "VolumeDriver.Create", "a.dev")["Err"], "");
    assert_eq!(named(&sock, "VolumeDriver.Create", "a.dev")["Err"], "");
    let clone =
        json!({"Name": "c.dev", "Opts": {"importVolAsClone": "prod/db", "destroyOnRm": "true"}});
    assert_eq!(call(&sock, "VolumeDriver.Create", clone)["Err"], "");
    assert_eq!(named(&sock, "VolumeDriver.Remove", "a.dev")["Err"], "");
    assert_eq!(named(&sock, "VolumeDriver.Remove", "c.dev")["Err"], "");
    assert_eq!(named(&sock, "VolumeDriver.Remove", "c.dev")["Err"], "");
    let detach = json!({"Name": "d.dev", "Opts": {"destroyOnDetach": "true"}});
    assert_eq!(call(&sock, "VolumeDriver.Create", detach)["Err"], "");
    let mount = json!({"Name": "d.dev", "ID": "ctr1"});
    assert_eq!(call(&sock, "VolumeDriver.Mount", mount.clone())["Err"], "");
    assert_eq!(call(&sock, "VolumeDriver.Unmount", mount)["Err"], "");

    // Each event is recorded before the request is answered.
    let e = Engine::open(&lab.home()).expect("engine");
    let mut recorded = e.deliveries_recent(100).expect("deliveries");
    recorded.reverse();
    let events: Vec<(EventKind, &str, &str, &Value)> = recorded
        .iter()
        .map(|d| {
            assert_eq!(d.hook, "rx");
            (
                d.event.kind,
                d.event.volume.as_str(),
                d.event.actor.as_str(),
                &d.event.detail,
            )
        })
        .collect();
    let (create, destroy) = (EventKind::Create, EventKind::Destroy);
    assert_eq!(
        events,
        [
            (create, "dev/a", "plugin:pd", &json!({"source": "empty"})),
            (
                create,
                "dev/c",
                "plugin:pd",
                &json!({"source": "clone", "from": "prod/db"})
            ),
            (destroy, "dev/c", "plugin:pd", &json!({})),
            (create, "dev/d", "plugin:pd", &json!({"source": "empty"})),
            (destroy, "dev/d", "plugin:pd", &json!({"on": "detach"})),
        ]
    );
    drop(srv);
}
