//! The pipeline file's checks: the example parses, and each mistake is named.

use std::time::Duration;

use super::*;

const GOOD: &str = r#"
name: populous
registry: 127.0.0.1:5000
app:
  version_file: VERSION
  images:
    app: { repository: populous/app, build: [make, "{image}"] }
    db: { repository: populous/db, context: db }
    lb: { repository: populous/lb, context: lb }
environments:
  dev:
    roles: [build, ship, run, mask, smoke, destroy]
    driver: populous-dev
    folder: dev
    token: { env: POPULOUS_DEV_TOKEN }
    port: 18081
    data: { clone_of: prod/db, volume: "db-{build}" }
    mask: { rules: masking.yml, key_file: /etc/populous/mask.key }
  stage:
    roles: [run, smoke]
    requires: dev
    driver: populous-stage
    folder: stage
    token: { file: /etc/populous/stage.token }
    port: 18082
    data: { import_from: dev, volume: "db-{build}" }
  prod:
    roles: [run, smoke]
    requires: stage
    driver: populous-prod
    folder: prod
    token: { env: POPULOUS_PROD_TOKEN }
    port: 18080
    data: { volume: db, seed_size: 256M }
    app: { replicas: 2, lb: true }
    update: { parallelism: 1, delay: 2s, order: start-first }
    probe: { interval: 100ms, idle: 5s }
  golden:
    roles: [refresh]
    folder: golden
    token: { env: POPULOUS_GOLDEN_TOKEN }
    data: { clone_of: prod/db, volume: db }
    mask: { rules: masking.yml, key_file: /etc/populous/golden.key }
"#;

fn parse(text: &str) -> Result<Pipeline> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("VERSION"), "1.0.1\n").unwrap();
    Pipeline::parse(text, Path::new("populous.yml"), dir.path())
}

/// `check(edit, expected)`: applies a textual edit to the good file and
/// expects success (None) or an error containing the text.
fn check(from: &str, to: &str, expected: Option<&str>) {
    let text = GOOD.replacen(from, to, 1);
    assert_ne!(text, GOOD, "edit {from:?} did not apply");
    match (parse(&text), expected) {
        (Ok(_), None) => {}
        (Ok(_), Some(e)) => {
            panic!("{from:?} -> {to:?}: accepted, expected an error with {e:?}")
        }
        (Err(e), None) => panic!("{from:?} -> {to:?}: refused: {e}"),
        (Err(e), Some(want)) => {
            let msg = e.to_string();
            assert!(
                msg.contains(want),
                "{from:?} -> {to:?}: {msg:?} lacks {want:?}"
            );
        }
    }
}

#[test]
fn the_example_parses_with_defaults() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.version, "1.0.1");
    assert_eq!(p.tag("28"), "1.0.1-28");
    let prod = p.env("prod").unwrap();
    assert_eq!(prod.update.delay, Duration::from_secs(2));
    assert_eq!(prod.update.monitor, Duration::from_secs(5));
    assert!(prod.update.rollback);
    assert_eq!(prod.probe.as_ref().unwrap().max_p99_ratio, 1.2);
    assert_eq!(prod.app.replicas, Some(2));
    assert_eq!(p.env("dev").unwrap().app.replicas, None);
    assert_eq!(
        p.image_ref("app", "1.0.1-28").unwrap(),
        "127.0.0.1:5000/populous/app:1.0.1-28"
    );
    let e = p.env("qa").unwrap_err().to_string();
    assert!(e.contains("dev, golden, prod, stage"), "{e}");
    let golden = p.env("golden").unwrap();
    assert_eq!(
        (golden.roles.as_slice(), golden.port),
        (&[Role::Refresh][..], 0)
    );
}

#[test]
fn environments_parse_into_typed_plans() {
    let p = parse(GOOD).unwrap();
    let plan = |name: &str| p.env_plan(name).unwrap().1.clone();
    let prod_db = VolumeRef {
        folder: "prod".into(),
        volume: "db".into(),
    };
    assert_eq!(
        plan("dev").data,
        DataSource::CloneOf {
            source: prod_db.clone(),
            copy: CopyMethod::Clone
        }
    );
    assert_eq!(plan("stage").data, DataSource::ImportFrom("dev".into()));
    assert_eq!(
        plan("prod").data,
        DataSource::Own {
            seed: Some(("256M".into(), 256 << 20))
        }
    );
    assert_eq!(plan("prod").lb_repository.as_deref(), Some("populous/lb"));
    assert_eq!(plan("dev").lb_repository, None);
    assert_eq!(
        plan("stage").token,
        TokenSource::File("/etc/populous/stage.token".into())
    );
    let golden = plan("golden").golden.expect("golden is a golden copy");
    assert_eq!(golden.source, super::GoldenFrom::Volume(prod_db));
    assert_eq!(golden.mask.key_file, Path::new("/etc/populous/golden.key"));
    assert!(plan("dev").golden.is_none());
    assert_eq!(
        p.app_image("1.0.1-28"),
        "127.0.0.1:5000/populous/app:1.0.1-28"
    );
    assert_eq!(
        p.db_image("1.0.1-28"),
        "127.0.0.1:5000/populous/db:1.0.1-28"
    );
}

#[test]
fn mistakes_are_named() {
    check(
        "registry: 127.0.0.1:5000",
        "registry: 127.0.0.1",
        Some("host:port"),
    );
    check("port: 18081", "port: 0", Some("environments.dev.port"));
    check(
        "roles: [run, smoke]\n    requires: dev",
        "roles: [run, run]\n    requires: dev",
        Some("listed twice"),
    );
    check("roles: [build,", "roles: [biuld,", Some("unknown variant"));
    check(
        "import_from: dev",
        "import_from: qa",
        Some("data.import_from"),
    );
    check("requires: stage", "requires: prod", Some("requires"));
    check(
        "clone_of: prod/db",
        "clone_of: ../db",
        Some("FOLDER/VOLUME"),
    );
    check(
        "volume: \"db-{build}\" }\n    mask",
        "volume: \"db/{build}\" }\n    mask",
        Some("not a plain name"),
    );
    check(
        "order: start-first",
        "order: sideways",
        Some("start-first or stop-first"),
    );
    check("delay: 2s", "delay: soon", Some("not a duration"));
    check(
        "    mask: { rules: masking.yml, key_file: /etc/populous/mask.key }\n",
        "",
        Some("needs a mask section"),
    );
    check(
        "token: { env: POPULOUS_DEV_TOKEN }",
        "token: abc123",
        Some("token"),
    );
    check(
        "token: { env: POPULOUS_DEV_TOKEN }",
        "token: { env: A, file: /b }",
        Some("one of them"),
    );
    check(
        "folder: dev",
        "folder: ../dev",
        Some("environments.dev.folder"),
    );
    check(
        "    lb: { repository: populous/lb, context: lb }\n",
        "",
        Some("app.images.lb"),
    );
    check(
        "db: { repository: populous/db, context: db }",
        "db: { repository: populous/db }",
        Some("either build"),
    );
    check(
        "port: 18082",
        "port: 18082\n    colour: blue",
        Some("unknown field"),
    );
    check(
        "seed_size: 256M",
        "seed_size: lots",
        Some(
            "environments.prod.data.seed_size: invalid size \"lots\": it must start with a number",
        ),
    );
    check(
        "seed_size: 256M",
        "seed_size: 256Q",
        Some("environments.prod.data.seed_size: invalid size \"256Q\": unknown unit \"Q\""),
    );
    check(
        "seed_size: 256M",
        "seed_size: \"-1G\"",
        Some("environments.prod.data.seed_size: invalid size \"-1G\": sizes cannot be negative"),
    );
    check("seed_size: 256M", "seed_size: 1.5GiB", None);
    check("delay: 2s", "delay: 500ms", None);
    check(
        "roles: [refresh]",
        "roles: [refresh, smoke]",
        Some("refresh runs alone"),
    );
    check(
        "data: { clone_of: prod/db, volume: db }",
        "data: { volume: db }",
        Some("refresh needs data.clone_of"),
    );
    // A golden copy from a source (production outside the pool).
    check(
        "data: { clone_of: prod/db, volume: db }",
        "data: { from_source: prod, volume: db }",
        None,
    );
    check(
        "data: { clone_of: prod/db, volume: db }",
        "data: { from_source: prod, clone_of: prod/db, volume: db }",
        Some("no clone_of beside it"),
    );
    check(
        "data: { clone_of: prod/db, volume: db }",
        "data: { from_source: ../prod, volume: db }",
        Some("data.from_source"),
    );
    check(
        "data: { clone_of: prod/db, volume: \"db-{build}\" }",
        "data: { from_source: prod, volume: \"db-{build}\" }",
        Some("only a golden copy"),
    );
    check(
        "    mask: { rules: masking.yml, key_file: /etc/populous/golden.key }\n",
        "",
        Some("refresh needs data.clone_of"),
    );
    check(
        "clone_of: prod/db, volume: db }",
        "clone_of: prod/db, volume: \"db-{build}\" }",
        Some("no placeholders"),
    );
    check(
        "driver: populous-dev",
        "driver: \"\"",
        Some("environments.dev.driver"),
    );
    // Production outside any pool (Docker's local driver), replicated by a source.
    check(
        "driver: populous-prod",
        "driver: local\n    db: { args: [--log-bin=prod-bin, --server-id=1], port: 13306 }",
        None,
    );
    check(
        "driver: populous-dev",
        "driver: local",
        Some("needs a Populous volume driver"),
    );
    check(
        "driver: populous-stage",
        "driver: local",
        Some("needs a Populous volume driver"),
    );
    check(
        "port: 18080",
        "port: 18080\n    db: { args: [--log-bin, sh] }",
        Some("environments.prod.db.args \"sh\""),
    );
    check(
        "port: 18080",
        "port: 18080\n    db: { args: [--log-bin], port: 0 }",
        Some("environments.prod.db.port"),
    );
    check(
        "port: 18080",
        "port: 18080\n    db: { args: [--log-bin=prod-bin], port: 13306 }",
        None,
    );
}

#[test]
fn production_outside_the_pool() {
    let text = GOOD
        .replacen("driver: populous-prod", "driver: local", 1)
        .replacen(
            "data: { import_from: dev,",
            "data: { clone_of: golden/db,",
            1,
        )
        .replacen(
            "data: { clone_of: prod/db, volume: db }",
            "data: { from_source: prod, volume: db }",
            1,
        );
    let p = parse(&text).unwrap();
    assert!(!p.file.environments["prod"].on_pool());
    assert!(p.file.environments["dev"].on_pool());
    assert!(p.file.environments["prod"].db.args.is_empty());
    // Nothing to import from outside the pool.
    let err = parse(&text.replacen(
        "data: { clone_of: golden/db,",
        "data: { import_from: prod,",
        1,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("its volume is outside any pool"), "{err}");
}

#[test]
fn placeholders_expand_in_arguments_only_as_text() {
    let v = Vars {
        version: "1.0.1".into(),
        build: "28".into(),
        env: "dev".into(),
        image: Some("populous/app:1.0.1-28".into()),
    };
    assert_eq!(expand("db-{build}", &v), "db-28");
    assert_eq!(
        expand("{image} {tag} {env} {other}", &v),
        "populous/app:1.0.1-28 1.0.1-28 dev {other}"
    );
    assert!(is_plain_name("db-28"));
    assert!(!is_plain_name("db 28"));
    assert!(!is_plain_name("-db"));
    assert!(!is_plain_name(""));
}
