//! One small handler per subcommand: parse references, call the engine, print.

use anyhow::{Context, Result};
use populous_engine::size::{format_size, parse_size};
use populous_engine::{
    Allowed, BackendKind, Engine, FolderPolicy, FolderRef, FsKind, Name, Outcome, Scope, SnapRef,
    VolRef, VolumeInfo, VolumeOptions,
};
use populous_ops::lifecycle::ReapAction;
use serde::Serialize;

use crate::cli::*;
use crate::output::{self, opt, table, time};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    if let Command::Bench(BenchCmd::Clone(args)) = &cli.command {
        return crate::bench::clone(args, json);
    }
    if let Command::Bench(BenchCmd::Db(args)) = &cli.command {
        return crate::bench_db::run(args, json);
    }
    if let Command::Bench(BenchCmd::Daemon(args)) = &cli.command {
        return crate::bench_daemon::run(args, json);
    }
    if let Command::Bench(BenchCmd::Mask(args)) = &cli.command {
        return crate::bench_mask::run(args, json);
    }
    if let Command::Bench(BenchCmd::MaskRate(args)) = &cli.command {
        return crate::bench_mask_rate::run(args, json);
    }
    if let Command::Bench(BenchCmd::Source(args)) = &cli.command {
        return crate::bench_source::run(args, json);
    }
    if let Command::Bench(BenchCmd::DbIo(args)) = &cli.command {
        return crate::bench_db_io::run(args, json);
    }
    if let Command::Bench(BenchCmd::Clones(args)) = &cli.command {
        return crate::bench_clones::run(args, json);
    }
    if let Command::Pipeline(crate::cli::PipelineCmd::Run(a)) = &cli.command {
        return crate::pipeline::run(&cli.home, a, json);
    }
    if let Command::Demo(a) = &cli.command {
        // The demo's own home unless one was given: never another engineer's.
        let home = if cli.home_given {
            cli.home.clone()
        } else {
            std::path::PathBuf::from("/var/lib/populous-demo")
        };
        return crate::demo::run(&home, a, json);
    }
    if let Command::Probe(p) = &cli.command {
        return probe(p);
    }
    let mut engine = Engine::open(&cli.home)
        .with_context(|| format!("opening the populous home {}", cli.home.display()))?;
    match cli.command {
        Command::Pool(c) => pool(&mut engine, c, json),
        Command::Folder(c) => folder(&mut engine, c, json),
        Command::Volume(c) => volume(&mut engine, c, json),
        Command::Snapshot(c) => snapshot(&mut engine, c, json),
        Command::Clone(a) => crate::clones::clone(&mut engine, a, json),
        Command::Check { repair } => {
            let report = engine.check(repair)?;
            if json {
                output::json(&report)?;
            } else {
                println!(
                    "pools checked: {}; interrupted operations reconciled: {}",
                    report.pools_checked.len(),
                    report.reconciled_ops
                );
                for p in &report.pools_unavailable {
                    println!("unavailable: {p}");
                }
                for o in &report.orphans {
                    println!("orphan: {} (remove with --repair)", o.display());
                }
                for m in &report.missing {
                    println!("missing: {m}");
                }
                for r in &report.removed {
                    println!("removed: {}", r.display());
                }
                println!(
                    "{}",
                    if report.consistent() {
                        "consistent"
                    } else {
                        "NOT consistent"
                    }
                );
            }
            if report.consistent() {
                Ok(())
            } else {
                // Exit 1, like any failure, after the report itself.
                anyhow::bail!(
                    "the metadata and the pools do not agree: {} orphans, {} missing, {} unavailable pools",
                    report.orphans.len(),
                    report.missing.len(),
                    report.pools_unavailable.len()
                )
            }
        }
        Command::Serve(a) => serve(engine, a, json),
        Command::Db(c) => crate::db::db(&mut engine, c, json),
        Command::Generate(a) => crate::db::generate(&engine, &a, json),
        Command::Mask(MaskCmd {
            verify: Some(MaskSub::Verify(a)),
            ..
        }) => crate::mask::verify_cmd(&mut engine, &a, json),
        Command::Mask(MaskCmd { args: Some(a), .. }) => crate::mask::mask(&mut engine, &a, json),
        Command::Mask(_) => anyhow::bail!(
            "give FOLDER/VOL --rules FILE --key-file FILE, or `verify FOLDER/VOL ...`"
        ),
        Command::Token(c) => token(&mut engine, c, json),
        Command::Source(c) => crate::source::source(&mut engine, c, json),
        Command::Webhook(WebhookCmd::Ls { limit }) => {
            let list = engine.deliveries_recent(limit)?;
            if json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|d| {
                    vec![
                        time(d.event.at),
                        d.event.id.clone(),
                        d.event.kind.to_string(),
                        d.event.volume.clone(),
                        d.hook.clone(),
                        d.state.as_str().to_owned(),
                        d.attempts.to_string(),
                        d.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &[
                    "TIME",
                    "EVENT",
                    "KIND",
                    "VOLUME",
                    "HOOK",
                    "STATE",
                    "ATTEMPTS",
                    "LAST ERROR",
                ],
                &rows,
            );
            Ok(())
        }
        Command::Audit { limit } => {
            let entries = engine.audit_list(limit)?;
            if json {
                return output::json(&entries);
            }
            let rows = entries
                .iter()
                .map(|a| {
                    vec![
                        time(a.at),
                        a.actor.clone(),
                        a.action.clone(),
                        a.target.clone(),
                        a.outcome.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"], &rows);
            Ok(())
        }
        Command::Bench(BenchCmd::Generate(a)) => crate::db::bench_generate(&engine, &a, json),
        Command::Bench(_) | Command::Probe(_) | Command::Pipeline(_) | Command::Demo(_) => {
            unreachable!("handled above")
        }
    }
}

fn serve(engine: Engine, a: ServeArgs, json: bool) -> Result<()> {
    let home = engine.home().to_owned();
    drop(engine);
    let (path, required) = match a.config {
        Some(p) => (p, true),
        None => (home.join("populous.toml"), false),
    };
    let mut config = populous_daemon::Config::load(&path, required)?;
    if let Some(l) = a.listen {
        config.listen = l;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let daemon = populous_daemon::Daemon::open(&home)?;
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        populous_daemon::serve(daemon, config, shutdown, |b| {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"api": b.api_addr, "sockets": b.sockets})
                );
            } else {
                if let Some(a) = b.api_addr {
                    println!("REST API on http://{a} (OpenAPI at /v1/openapi.json)");
                    println!("dashboard on http://{a}/ui (sign in with a token)");
                }
                for s in &b.sockets {
                    println!("docker volume plugin on {}", s.display());
                }
            }
        })
        .await?;
        Ok(())
    })
}

fn token(engine: &mut Engine, c: TokenCmd, json: bool) -> Result<()> {
    match c {
        TokenCmd::Create {
            name: n,
            mut write,
            mut read,
            folder,
            admin,
        } => {
            if let Some((home, others)) = folder.split_first() {
                write.push(home.clone());
                read.extend(others.iter().cloned());
            }
            let n = name("token", &n)?;
            let (info, secret) = if admin {
                engine.token_create_admin(&n)?
            } else {
                let grants = write
                    .iter()
                    .map(|f| Ok((name("folder", f)?, Scope::Write)))
                    .chain(read.iter().map(|f| Ok((name("folder", f)?, Scope::Read))))
                    .collect::<Result<Vec<_>>>()?;
                engine.token_create(&n, &grants)?
            };
            if json {
                return output::json(&serde_json::json!({"token": info, "secret": secret}));
            }
            // The secret alone on stdout, so `> file` captures exactly it; the rest on stderr.
            println!("{secret}");
            eprintln!(
                "created token {} for {} (the secret above is shown only once)",
                info.name,
                if info.admin {
                    "all folders (admin)".to_owned()
                } else {
                    grants_text(&info)
                }
            );
            Ok(())
        }
        TokenCmd::Ls => {
            let tokens = engine.token_list()?;
            if json {
                return output::json(&tokens);
            }
            let rows = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.name.to_string(),
                        if t.admin { "yes".into() } else { "no".into() },
                        if t.admin {
                            "*:write".to_owned()
                        } else {
                            grants_text(t)
                        },
                        time(t.created_at),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["TOKEN", "ADMIN", "FOLDERS", "CREATED"], &rows);
            Ok(())
        }
        TokenCmd::Rm { name: n } => {
            let n = name("token", &n)?;
            engine.token_remove(&n)?;
            done(
                json,
                &serde_json::json!({"removed": n}),
                &format!("revoked token {n}"),
            )
        }
    }
}

fn probe(p: &ProbeCmd) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &p.report {
        Some(ProbeSub::Report(args)) => populous_probe::cli::run_report(args, &mut out)
            .with_context(|| format!("report {}", args.file.display())),
        None => {
            let args = p
                .args
                .as_ref()
                .context("give --url URL --out FILE, or `report FILE`")?;
            populous_probe::cli::run_probe(
                args,
                |ctl| {
                    // Ctrl-C ends the schedule; requests in flight finish and the summary prints.
                    if let Err(e) = ctrlc::set_handler(move || ctl.stop()) {
                        tracing::warn!(error = %e, "could not install the Ctrl-C handler");
                    }
                },
                &mut out,
                Box::new(std::io::stderr()),
            )?;
            Ok(())
        }
    }
}

fn name(what: &'static str, s: &str) -> Result<Name> {
    Ok(Name::new(what, s)?)
}

/// `dev:write,prod:read`, as `token ls` shows and `token create` confirms.
fn grants_text(t: &populous_engine::TokenInfo) -> String {
    t.folders
        .iter()
        .map(|(f, s)| format!("{f}:{}", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

fn policy(args: PolicyArgs) -> Result<FolderPolicy> {
    // `--clone-from ''` says none out loud; it is also what leaving it out means.
    let list = |v: Vec<String>| -> Result<Allowed> {
        let v: Vec<String> = v.into_iter().filter(|s| !s.is_empty()).collect();
        Ok(Allowed::parse(&v)?)
    };
    Ok(FolderPolicy {
        clone_from: list(args.clone_from)?,
        import_from: list(args.import_from)?,
        require_masked: args.require_masked,
    })
}

fn policy_text(p: &FolderPolicy) -> String {
    let l = |v: &Allowed| match v {
        Allowed::Any => "any".to_owned(),
        Allowed::Only(v) if v.is_empty() => "none".to_owned(),
        Allowed::Only(v) => v.iter().map(Name::as_str).collect::<Vec<_>>().join(","),
    };
    format!(
        "clone-from={} import-from={}{}",
        l(&p.clone_from),
        l(&p.import_from),
        if p.require_masked {
            " require-masked"
        } else {
            ""
        }
    )
}

pub(crate) fn done<T: Serialize>(json: bool, value: &T, message: &str) -> Result<()> {
    if json {
        output::json(value)
    } else {
        println!("{message}");
        Ok(())
    }
}

pub(crate) fn changed<T: Serialize>(
    json: bool,
    o: &Outcome<T>,
    did: &str,
    already: &str,
) -> Result<()> {
    done(json, o, if o.changed { did } else { already })
}

fn pool(engine: &mut Engine, c: PoolCmd, json: bool) -> Result<()> {
    match c {
        PoolCmd::Create(a) => {
            let n = name("pool", &a.name)?;
            let backend: Option<BackendKind> = a.backend.as_deref().map(str::parse).transpose()?;
            let p = match (a.path, a.image) {
                (Some(path), _) => engine.pool_adopt(&n, &path, backend)?,
                (None, Some(image)) => {
                    let size = parse_size(a.size.as_deref().unwrap_or_default())?;
                    let fs: FsKind = a.fs.parse()?;
                    engine.pool_create_image(&n, &image, size, fs, backend)?
                }
                (None, None) => anyhow::bail!("give --path DIR or --image FILE --size SIZE"),
            };
            done(
                json,
                &p,
                &format!(
                    "created pool {} at {} ({} backend on {})",
                    p.name,
                    p.root.display(),
                    p.backend,
                    p.fs
                ),
            )
        }
        PoolCmd::Ls => {
            let pools = engine.pool_list()?;
            if json {
                return output::json(&pools);
            }
            let rows = pools
                .iter()
                .map(|p| {
                    vec![
                        p.name.to_string(),
                        p.backend.to_string(),
                        p.fs.clone(),
                        if p.available {
                            "yes".into()
                        } else {
                            "NO".into()
                        },
                        opt(p.free_bytes.map(format_size)),
                        opt(p.total_bytes.map(format_size)),
                        p.folders.to_string(),
                        p.root.display().to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &[
                    "POOL",
                    "BACKEND",
                    "FS",
                    "AVAILABLE",
                    "FREE",
                    "SIZE",
                    "FOLDERS",
                    "ROOT",
                ],
                &rows,
            );
            Ok(())
        }
        PoolCmd::Rm { name: n } => {
            let n = name("pool", &n)?;
            engine.pool_remove(&n)?;
            done(
                json,
                &serde_json::json!({"removed": n}),
                &format!("removed pool {n}"),
            )
        }
    }
}

fn folder(engine: &mut Engine, c: FolderCmd, json: bool) -> Result<()> {
    match c {
        FolderCmd::Create { folder, policy: p } => {
            let r: FolderRef = folder.parse()?;
            let f = engine.folder_create(&r, &policy(p)?)?;
            done(
                json,
                &f,
                &format!(
                    "created folder {} in pool {} ({})",
                    f.name,
                    f.pool,
                    policy_text(&f.policy)
                ),
            )
        }
        FolderCmd::Ls => {
            let folders = engine.folder_list()?;
            if json {
                return output::json(&folders);
            }
            let rows = folders
                .iter()
                .map(|f| {
                    vec![
                        f.name.to_string(),
                        f.pool.to_string(),
                        f.volumes.to_string(),
                        policy_text(&f.policy),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["FOLDER", "POOL", "VOLUMES", "POLICY"], &rows);
            Ok(())
        }
        FolderCmd::Rm { folder } => {
            let n = name("folder", &folder)?;
            engine.folder_remove(&n)?;
            done(
                json,
                &serde_json::json!({"removed": n}),
                &format!("removed folder {n}"),
            )
        }
        FolderCmd::Policy { folder, policy: p } => {
            let n = name("folder", &folder)?;
            let o = engine.folder_set_policy(&n, &policy(p)?)?;
            let text = policy_text(&o.value.policy);
            changed(
                json,
                &o,
                &format!("folder {n}: {text}"),
                &format!("folder {n} already has {text}"),
            )
        }
    }
}

pub(crate) fn show_volume(v: &VolumeInfo, json: bool, headline: &str) -> Result<()> {
    if json {
        return output::json(v);
    }
    println!("{headline}");
    inspect_text(v);
    Ok(())
}

fn inspect_text(v: &VolumeInfo) {
    println!("volume:      {}/{}", v.folder, v.name);
    println!("pool:        {}", v.pool);
    println!("state:       {}", v.state.as_str());
    println!("path:        {}", v.path.display());
    println!("size:        {}", opt(v.size_bytes.map(format_size)));
    println!("used:        {}", opt(v.used_bytes.map(format_size)));
    if let Some(d) = &v.description {
        println!("description: {d}");
    }
    println!("created:     {}", time(v.created_at));
    println!("origin:      {}", opt(v.origin.as_deref()));
    for (i, step) in v.lineage.iter().enumerate() {
        println!(
            "  {}<- {}{}",
            "  ".repeat(i),
            step.snapshot,
            if step.exists {
                String::new()
            } else {
                " (destroyed)".into()
            }
        );
    }
    let p = &v.provenance;
    if p.masked {
        println!(
            "provenance:  masked at {} (rules {}, key id {})",
            opt(p.masked_at.map(time)),
            opt(p.mask_ruleset.as_deref()),
            opt(p.mask_key_id.as_deref())
        );
    } else {
        println!("provenance:  not masked");
    }
    println!("snapshots:   {}", v.snapshots.len());
    for s in &v.snapshots {
        println!(
            "  @{}  {}  {}-consistent  clones: {}",
            s.name,
            time(s.created_at),
            s.consistency.as_str(),
            if s.clones.is_empty() {
                "-".into()
            } else {
                s.clones.join(", ")
            }
        );
    }
}

fn volume(engine: &mut Engine, c: VolumeCmd, json: bool) -> Result<()> {
    match c {
        VolumeCmd::Create {
            volume,
            size,
            description,
        } => {
            let r: VolRef = volume.parse()?;
            let opts = VolumeOptions {
                size: size.as_deref().map(parse_size).transpose()?,
                description,
                ..Default::default()
            };
            let v = engine.volume_create(&r, &opts)?;
            show_volume(&v, json, &format!("created volume {r}"))
        }
        VolumeCmd::Ls { folder, all } => {
            let f = folder.as_deref().map(|f| name("folder", f)).transpose()?;
            let vols = engine.volume_list(f.as_ref(), all)?;
            if json {
                return output::json(&vols);
            }
            // Where each running server answers (host:port and user, never a password).
            let dbs: std::collections::HashMap<String, String> =
                populous_ops::db::list(engine.home())
                    .into_iter()
                    .filter(|d| d.running)
                    .map(|d| {
                        let at = d
                            .instance
                            .url
                            .trim_start_matches("mysql://")
                            .trim_end_matches('/');
                        (d.volume, at.to_owned())
                    })
                    .collect();
            let rows = vols
                .iter()
                .map(|v| {
                    vec![
                        format!("{}/{}", v.folder, v.name),
                        v.state.as_str().into(),
                        opt(v.size_bytes.map(format_size)),
                        v.snapshots.to_string(),
                        opt(v.origin.as_deref()),
                        time(v.created_at),
                        lifecycle_text(&v.lifecycle),
                        crate::clones::idle_text(&v.lifecycle, v.created_at),
                        dbs.get(&format!("{}/{}", v.folder, v.name))
                            .cloned()
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &[
                    "VOLUME",
                    "STATE",
                    "SIZE",
                    "SNAPSHOTS",
                    "ORIGIN",
                    "CREATED",
                    "EXPIRES",
                    "IDLE",
                    "DB",
                ],
                &rows,
            );
            Ok(())
        }
        VolumeCmd::Inspect { volume } => {
            let r: VolRef = volume.parse()?;
            let v = engine.volume_inspect_measured(&r)?;
            if json {
                return output::json(&v);
            }
            inspect_text(&v);
            Ok(())
        }
        VolumeCmd::Path { volume } => {
            let r: VolRef = volume.parse()?;
            let p = engine.volume_path(&r)?;
            done(
                json,
                &serde_json::json!({"path": p}),
                &p.display().to_string(),
            )
        }
        VolumeCmd::Offline { volume } => {
            let r: VolRef = volume.parse()?;
            let o = engine.volume_set_online(&r, false)?;
            changed(
                json,
                &o,
                &format!("{r} is now offline"),
                &format!("{r} was already offline"),
            )
        }
        VolumeCmd::Online { volume } => {
            let r: VolRef = volume.parse()?;
            let o = engine.volume_set_online(&r, true)?;
            changed(
                json,
                &o,
                &format!("{r} is now online"),
                &format!("{r} was already online"),
            )
        }
        VolumeCmd::Release { volume } => {
            let r: VolRef = volume.parse()?;
            let o = engine.mount_clear(&r)?;
            let value = serde_json::json!({"changed": o.changed, "released": o.value});
            let msg = if o.changed {
                format!("released {} recorded mount(s) of {r}", o.value)
            } else {
                format!("{r} had no recorded mounts")
            };
            done(json, &value, &msg)
        }
        VolumeCmd::Import { volume, to, rename } => {
            let r: VolRef = volume.parse()?;
            let to = name("folder", &to)?;
            let rename = rename.as_deref().map(|n| name("volume", n)).transpose()?;
            let v = engine.volume_import(&r, &to, rename.as_ref())?;
            show_volume(
                &v,
                json,
                &format!("imported {r} as {}/{} (online)", v.folder, v.name),
            )
        }
        VolumeCmd::Rename {
            volume,
            new_name,
            replace,
        } => {
            let r: VolRef = volume.parse()?;
            let to = name("volume", &new_name)?;
            let o = engine.volume_rename(&r, &to, replace)?;
            let did = match &o.value.replaced {
                Some(old) => format!(
                    "renamed {r} to {old}, replacing (destroying) the volume that had that name"
                ),
                None => format!(
                    "renamed {r} to {}/{}",
                    o.value.volume.folder, o.value.volume.name
                ),
            };
            changed(json, &o, &did, &format!("{r} already has that name"))
        }
        VolumeCmd::Rm {
            volume,
            destroy,
            recursive,
        } => {
            let r: VolRef = volume.parse()?;
            let o = engine.volume_remove(&r, destroy, recursive)?;
            let did = if destroy {
                format!("destroyed {r}")
            } else {
                format!("{r} is now offline (kept; destroy it with --destroy)")
            };
            changed(json, &o, &did, &format!("{r} was already offline"))
        }
        VolumeCmd::Expire {
            volume,
            after,
            at,
            never,
        } => {
            let r: VolRef = volume.parse()?;
            let when = match (after, at, never) {
                (Some(d), _, _) => Some(from_now(&d)?),
                (_, Some(t), _) => Some(timestamp(&t)?),
                (_, _, true) => None,
                _ => anyhow::bail!("say when: --in DURATION, --at TIME or --never"),
            };
            let o = engine.volume_expire_at(&r, when)?;
            let did = match when {
                Some(t) => format!("{r} expires at {}", when_text(t)),
                None => format!("{r} never expires"),
            };
            changed(json, &o, &did, &format!("{did} already"))
        }
        VolumeCmd::Extend { volume, by } => {
            let r: VolRef = volume.parse()?;
            let o = engine.volume_extend(&r, seconds(&by)?)?;
            let at = o.value.expires_at.map_or("never".into(), when_text);
            changed(
                json,
                &o,
                &format!("{r} now expires at {at}"),
                &format!("{r} expires at {at}"),
            )
        }
        VolumeCmd::Protect { volume, lease } => {
            let r: VolRef = volume.parse()?;
            let until = lease.as_deref().map(from_now).transpose()?;
            let o = engine.volume_protect(&r, until)?;
            let did = match until {
                Some(t) => format!("{r} is protected from expiry until {}", when_text(t)),
                None => format!("{r} is protected from expiry"),
            };
            changed(json, &o, &did, &format!("{did} already"))
        }
        VolumeCmd::Unprotect { volume } => {
            let r: VolRef = volume.parse()?;
            let o = engine.volume_unprotect(&r)?;
            changed(
                json,
                &o,
                &format!("{r} is no longer protected"),
                &format!("{r} was not protected"),
            )
        }
        VolumeCmd::Reap => {
            let mut readings = populous_ops::lifecycle::Readings::new();
            let reaped =
                populous_ops::lifecycle::reap(engine, &mut readings, populous_engine::now())?;
            if json {
                return output::json(&reaped);
            }
            if reaped.is_empty() {
                println!("no volume has expired or was idle too long");
            }
            for x in &reaped {
                let why = match x.due {
                    populous_engine::Due::Expired => "expired",
                    populous_engine::Due::Idle => "idle too long",
                };
                match &x.action {
                    ReapAction::Destroyed => println!("destroyed {} ({why})", x.volume),
                    ReapAction::KeptProtected => {
                        println!("kept {}: {why}, but protected", x.volume)
                    }
                    ReapAction::Kept { reason } => {
                        println!("kept {}: {why}, but {reason}", x.volume)
                    }
                }
            }
            Ok(())
        }
        VolumeCmd::Reset(a) => crate::clones::reset(engine, a, json),
        VolumeCmd::Idle(a) => crate::clones::idle(engine, a, json),
    }
}

/// `never`, or the expiry time, and the protection.
fn lifecycle_text(l: &populous_engine::Lifecycle) -> String {
    let at = l.expires_at.map_or("never".to_owned(), when_text);
    match l.protection {
        populous_engine::Protection::None => at,
        populous_engine::Protection::Forever => format!("{at} (protected)"),
        populous_engine::Protection::Until { until } => {
            format!("{at} (protected until {})", when_text(until))
        }
    }
}

/// Unix seconds `d` (e.g. `2h`) from now.
pub(crate) fn from_now(d: &str) -> Result<i64> {
    Ok(populous_engine::now().saturating_add(seconds(d)?))
}

/// Seconds in a duration like `90m`, `2h` or `7days`.
pub(crate) fn seconds(d: &str) -> Result<i64> {
    let dur = humantime::parse_duration(d).map_err(|e| populous_engine::Error::InvalidInput {
        what: "duration",
        detail: format!("{d:?} is not a duration ({e}): write e.g. 90m, 2h or 7days"),
    })?;
    Ok(i64::try_from(dur.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds of an RFC 3339 time.
fn timestamp(t: &str) -> Result<i64> {
    let at =
        humantime::parse_rfc3339_weak(t).map_err(|e| populous_engine::Error::InvalidInput {
            what: "time",
            detail: format!("{t:?} is not a time ({e}): write e.g. 2026-12-24T18:00:00Z"),
        })?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
}

/// A Unix time as RFC 3339 (UTC, seconds).
pub(crate) fn when_text(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn snapshot(engine: &mut Engine, c: SnapshotCmd, json: bool) -> Result<()> {
    match c {
        SnapshotCmd::Create { snapshot } => {
            let r: SnapRef = snapshot.parse()?;
            let s = populous_ops::snapshot(engine, &r)?;
            done(
                json,
                &s,
                &format!(
                    "created snapshot {r} ({}-consistent)",
                    s.consistency.as_str()
                ),
            )
        }
        SnapshotCmd::Ls { volume } => {
            let r: VolRef = volume.parse()?;
            let snaps = engine.snapshot_list(&r)?;
            if json {
                return output::json(&snaps);
            }
            let rows = snaps
                .iter()
                .map(|s| {
                    vec![
                        format!("{r}@{}", s.name),
                        time(s.created_at),
                        s.consistency.as_str().into(),
                        if s.provenance.masked {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        if s.clones.is_empty() {
                            "-".into()
                        } else {
                            s.clones.join(",")
                        },
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &["SNAPSHOT", "CREATED", "CONSISTENCY", "MASKED", "CLONES"],
                &rows,
            );
            Ok(())
        }
        SnapshotCmd::Rm { snapshot } => {
            let r: SnapRef = snapshot.parse()?;
            engine.snapshot_remove(&r)?;
            done(
                json,
                &serde_json::json!({"removed": r.to_string()}),
                &format!("destroyed snapshot {r}"),
            )
        }
    }
}
