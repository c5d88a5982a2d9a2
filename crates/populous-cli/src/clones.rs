//! `populous clone` (with `--db`: a running database and its own login) and
//! the lifecycle of clones: `volume reset` and `volume idle`.

use anyhow::Result;
use populous_engine::{CloneSource, Engine, VolRef, VolumeOptions};
use populous_ops::dbclone::{self, Clients, CloneDb, Listen, ResetTo};

use crate::cli::{CloneArgs, IdleArgs, ResetArgs};
use crate::commands::{changed, from_now, seconds, show_volume};
use crate::output;

/// `populous clone SRC DST [--db]`.
pub fn clone(engine: &mut Engine, a: CloneArgs, json: bool) -> Result<()> {
    let src: CloneSource = a.source.parse()?;
    let dst: VolRef = a.target.parse()?;
    let opts = VolumeOptions {
        description: a.description,
        expires_at: a.expires_in.as_deref().map(from_now).transpose()?,
        idle_after: a.idle.as_deref().map(seconds).transpose()?,
        ..Default::default()
    };
    if !a.db {
        let v = populous_ops::clone(engine, &src, &dst, &opts)?;
        return show_volume(
            &v,
            json,
            &format!("cloned {} to {dst}", v.origin.as_deref().unwrap_or("?")),
        );
    }
    let req = CloneDb {
        source: src,
        target: dst.clone(),
        options: opts,
        listen: Listen {
            addr: a.listen,
            ports: a.ports.parse()?,
        },
        limits: populous_db::Limits {
            memory: a
                .memory
                .as_deref()
                .map(populous_engine::size::parse_size)
                .transpose()?,
            connections: a.connections,
            cpu_weight: a.cpu_weight,
        },
    };
    let made = dbclone::clone_db(engine, &req)?;
    if json {
        // Shown once, like a token's secret: nothing keeps the password.
        return output::json(&made);
    }
    // The URL alone on stdout, so `$(populous clone … --db)` captures exactly it.
    println!("{}", made.url);
    eprintln!(
        "cloned {} to {dst}; MariaDB answers on {}:{} as {} (the password in the URL above is shown only once)",
        made.volume.origin.as_deref().unwrap_or("?"),
        made.host,
        made.port,
        made.user
    );
    Ok(())
}

/// `populous volume reset`.
pub fn reset(engine: &mut Engine, a: ResetArgs, json: bool) -> Result<()> {
    let r: VolRef = a.volume.parse()?;
    let to = match a.to {
        Some(s) => ResetTo::Snapshot(populous_engine::Name::new("snapshot", &s)?),
        None => ResetTo::Newest,
    };
    let clients = if a.force {
        Clients::Disconnect
    } else {
        Clients::Refuse
    };
    let done = dbclone::reset(engine, &r, &to, clients)?;
    if json {
        return output::json(&done);
    }
    println!(
        "reset {r} to {}{}",
        done.snapshot,
        if done.restarted {
            "; its server runs again, same port and login"
        } else {
            ""
        }
    );
    if !done.dropped_snapshots.is_empty() {
        println!(
            "its snapshots went with the old data: {}",
            done.dropped_snapshots.join(", ")
        );
    }
    Ok(())
}

/// `populous volume idle`.
pub fn idle(engine: &mut Engine, a: IdleArgs, json: bool) -> Result<()> {
    let r: VolRef = a.volume.parse()?;
    let after = match (a.after, a.never) {
        (Some(d), false) => Some(seconds(&d)?),
        _ => None,
    };
    let o = engine.volume_idle_after(&r, after)?;
    let did = match after {
        Some(s) => format!(
            "{r} goes once its server has had no client for {}",
            humantime::format_duration(std::time::Duration::from_secs(s.unsigned_abs()))
        ),
        None => format!("{r} is never destroyed for being idle"),
    };
    changed(json, &o, &did, &format!("{did} already"))
}

/// Idle for how long, for `volume ls`: `-` when not watched.
pub fn idle_text(l: &populous_engine::Lifecycle, created_at: i64) -> String {
    let Some(after) = l.idle_after else {
        return "-".into();
    };
    let idle = (populous_engine::now() - l.idle_since(created_at)).max(0);
    let d = |s: i64| humantime::format_duration(std::time::Duration::from_secs(s.unsigned_abs()));
    format!("{} of {}", d(idle), d(after))
}
