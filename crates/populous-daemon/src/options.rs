//! The Nimble plugin's `docker volume create -o K=V` options, parsed into one request.
//!
//! Pure logic, no I/O: the plugin handler merges the instance's `defaults`
//! and `overrides` with what the user gave, then calls [`parse`] and acts on
//! the resulting [`CreatePlan`]. Every refusal is a sentence Docker shows the
//! user as is.

use std::collections::BTreeMap;

use populous_engine::{Name, VolRef};

/// What a `Create` asks for, after option parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A new empty volume.
    Empty,
    /// A clone of a Docker volume of this driver (`cloneOf`, with or without
    /// the driver's suffix), of snapshot `snapshot` or of a new one.
    CloneOf {
        /// The Docker volume name as given.
        volume: String,
        /// An existing snapshot to clone.
        snapshot: Option<Name>,
    },
    /// A clone of another folder's volume (`importVolAsClone=folder/vol`).
    ImportAsClone {
        /// The volume to clone.
        from: VolRef,
        /// An existing snapshot to clone.
        snapshot: Option<Name>,
    },
    /// Move an offline volume of another folder into this one (`importVol=folder/vol`).
    Import {
        /// The volume to move.
        from: VolRef,
        /// `forceImport`: take it offline first if it is online and unused.
        force: bool,
    },
}

/// A parsed create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    /// Where the data comes from.
    pub source: Source,
    /// Nominal size in bytes.
    pub size: Option<u64>,
    /// Description.
    pub description: Option<String>,
    /// `fsOwner=uid:gid`.
    pub owner: Option<(u32, u32)>,
    /// `fsMode=0755`.
    pub mode: Option<u32>,
    /// `destroyOnRm`: `docker volume rm` destroys instead of taking offline.
    pub destroy_on_rm: bool,
    /// `destroyOnDetach`: the last unmount destroys.
    pub destroy_on_detach: bool,
    /// `folder=`, when given: must name the instance's own folder.
    pub folder: Option<String>,
}

/// Options Populous accepts, with one line of help each.
pub const OPTIONS: &[(&str, &str)] = &[
    (
        "size",
        "nominal size in GiB (or with a unit: 512M, 10G); recorded, not enforced",
    ),
    ("sizeInGiB", "nominal size in GiB"),
    ("description", "free-form description"),
    ("fsOwner", "uid:gid that owns the volume's root directory"),
    (
        "fsMode",
        "octal mode of the volume's root directory, e.g. 0775",
    ),
    (
        "destroyOnRm",
        "docker volume rm destroys the volume instead of taking it offline",
    ),
    ("destroyOnDetach", "the last unmount destroys the volume"),
    (
        "cloneOf",
        "clone this folder's docker volume NAME (a new snapshot unless snapshot= is given)",
    ),
    (
        "snapshot",
        "with cloneOf or importVolAsClone: clone this existing snapshot",
    ),
    (
        "createSnapshot",
        "with cloneOf or importVolAsClone: take a new snapshot to clone (the default)",
    ),
    (
        "importVol",
        "FOLDER/VOLUME: move that offline volume into this folder (policy permitting)",
    ),
    (
        "forceImport",
        "with importVol: take the source offline first if it is online and unused",
    ),
    (
        "restore",
        "not supported yet: restore a volume to a snapshot before import",
    ),
    (
        "importVolAsClone",
        "FOLDER/VOLUME: clone another folder's volume into this one (policy permitting)",
    ),
    (
        "folder",
        "the folder to create in; only this plugin's own folder is allowed",
    ),
    ("help", "show this help"),
];

/// Nimble options that make no sense on a filesystem pool.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "perfPolicy",
        "performance policies belong to the array; a filesystem pool has none",
    ),
    ("limitIOPS", "I/O limits are not managed by Populous"),
    ("limitMBPS", "I/O limits are not managed by Populous"),
    (
        "encryption",
        "encrypt the pool's filesystem or device instead",
    ),
    ("dedupe", "deduplication is the filesystem's business"),
    (
        "thick",
        "volumes share the pool's space; there is no thick provisioning",
    ),
    (
        "protectionTemplate",
        "use snapshots (snapshot create) and your own schedule",
    ),
    ("pool", "a plugin instance is bound to its folder's pool"),
    (
        "mountConflictDelay",
        "mounts are local; there is no conflict to wait for",
    ),
];

/// The help text returned for `-o help`.
pub fn help() -> String {
    let mut s =
        String::from("Populous volume options (docker volume create -d DRIVER -o KEY=VALUE):\n");
    for (k, v) in OPTIONS {
        s.push_str(&format!("  {k:<17} {v}\n"));
    }
    s.push_str("Not supported: ");
    s.push_str(
        &UNSUPPORTED
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", "),
    );
    s
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("option {key}={v:?}: expected true or false")),
    }
}

/// `FOLDER/VOLUME`, by the engine's own parser.
fn folder_volume(key: &str, v: &str) -> Result<VolRef, String> {
    v.parse().map_err(|e| {
        format!("option {key}={v:?}: expected FOLDER/VOLUME, e.g. {key}=prod/db ({e})")
    })
}

/// A bare number (`2`, `1.5`) is GiB; anything else needs a unit.
fn size(key: &str, v: &str) -> Result<u64, String> {
    let with_unit = if v.chars().all(|c| c.is_ascii_digit() || c == '.') {
        format!("{v}G")
    } else {
        v.to_owned()
    };
    populous_engine::size::parse_size(&with_unit).map_err(|e| format!("option {key}: {e}"))
}

/// Parses merged options. `Err` carries the message for Docker (or the help text).
pub fn parse(opts: &BTreeMap<String, String>) -> Result<CreatePlan, String> {
    if opts.contains_key("help") {
        return Err(help());
    }
    for k in opts.keys() {
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(u, _)| u == k) {
            return Err(format!("option {k} is not supported by Populous: {why}"));
        }
        if !OPTIONS.iter().any(|(o, _)| o == k) {
            return Err(format!(
                "unknown option {k:?}; valid options: {} (use -o help for details)",
                OPTIONS
                    .iter()
                    .map(|(o, _)| *o)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let get = |k: &str| opts.get(k).map(String::as_str);
    let snapshot = get("snapshot")
        .map(|v| Name::new("snapshot", v).map_err(|e| format!("option snapshot: {e}")))
        .transpose()?;
    let create_snapshot = get("createSnapshot")
        .map(|v| flag("createSnapshot", v))
        .transpose()?
        .unwrap_or(false);
    if snapshot.is_some() && create_snapshot {
        return Err("give either snapshot=NAME or createSnapshot, not both".into());
    }
    if get("restore").is_some() {
        return Err("option restore is not supported yet: clone the snapshot with cloneOf/importVolAsClone and snapshot=NAME instead".into());
    }
    let sources = ["cloneOf", "importVol", "importVolAsClone"]
        .iter()
        .filter(|k| opts.contains_key(**k))
        .collect::<Vec<_>>();
    if sources.len() > 1 {
        return Err(format!(
            "options {} exclude each other: give one",
            sources
                .iter()
                .map(|s| **s)
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    let source = if let Some(v) = get("cloneOf") {
        Source::CloneOf {
            volume: v.to_owned(),
            snapshot,
        }
    } else if let Some(v) = get("importVolAsClone") {
        Source::ImportAsClone {
            from: folder_volume("importVolAsClone", v)?,
            snapshot,
        }
    } else if let Some(v) = get("importVol") {
        if snapshot.is_some() || create_snapshot {
            return Err("importVol moves a volume as it is; snapshot and createSnapshot go with cloneOf or importVolAsClone".into());
        }
        let from = folder_volume("importVol", v)?;
        let force = get("forceImport")
            .map(|v| flag("forceImport", v))
            .transpose()?
            .unwrap_or(false);
        Source::Import { from, force }
    } else {
        if snapshot.is_some() || create_snapshot {
            return Err("snapshot and createSnapshot need cloneOf or importVolAsClone".into());
        }
        Source::Empty
    };
    if get("forceImport").is_some() && !matches!(source, Source::Import { .. }) {
        return Err("forceImport goes with importVol".into());
    }
    let size = match (get("size"), get("sizeInGiB")) {
        (Some(_), Some(_)) => return Err("give size or sizeInGiB, not both".into()),
        (Some(v), None) => Some(size("size", v)?),
        (None, Some(v)) => Some(size("sizeInGiB", &format!("{v}G"))?),
        (None, None) => None,
    };
    let owner = get("fsOwner")
        .map(|v| {
            let bad = || format!("option fsOwner={v:?}: expected UID:GID, e.g. fsOwner=999:999");
            let (u, g) = v.split_once(':').ok_or_else(bad)?;
            Ok::<_, String>((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
        })
        .transpose()?;
    let mode = get("fsMode")
        .map(|v| {
            u32::from_str_radix(v, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| {
                    format!("option fsMode={v:?}: expected an octal mode, e.g. fsMode=0775")
                })
        })
        .transpose()?;
    Ok(CreatePlan {
        source,
        size,
        description: get("description").map(str::to_owned),
        owner,
        mode,
        destroy_on_rm: get("destroyOnRm")
            .map(|v| flag("destroyOnRm", v))
            .transpose()?
            .unwrap_or(false),
        destroy_on_detach: get("destroyOnDetach")
            .map(|v| flag("destroyOnDetach", v))
            .transpose()?
            .unwrap_or(false),
        folder: get("folder").map(str::to_owned),
    })
}

/// Applies an instance's `defaults` (for keys the user left out) and `overrides` (forced).
pub fn merge(
    user: &BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut m = defaults.clone();
    m.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    m.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Parses `pairs` and checks the outcome: `Ok(source)` or an error containing the text.
    fn check(pairs: &[(&str, &str)], want: Result<Source, &str>) {
        match (parse(&opts(pairs)), want) {
            (Ok(plan), Ok(src)) => assert_eq!(plan.source, src, "{pairs:?}"),
            (Err(e), Err(needle)) => {
                assert!(e.contains(needle), "{pairs:?}: {e:?} lacks {needle:?}")
            }
            (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn sources() {
        check(&[], Ok(Source::Empty));
        check(
            &[("cloneOf", "db")],
            Ok(Source::CloneOf {
                volume: "db".into(),
                snapshot: None,
            }),
        );
        check(
            &[("cloneOf", "db"), ("snapshot", "s1")],
            Ok(Source::CloneOf {
                volume: "db".into(),
                snapshot: Some(Name::new("snapshot", "s1").unwrap()),
            }),
        );
        check(
            &[("importVolAsClone", "prod/db"), ("createSnapshot", "true")],
            Ok(Source::ImportAsClone {
                from: "prod/db".parse().unwrap(),
                snapshot: None,
            }),
        );
        check(
            &[("importVol", "dev/c"), ("forceImport", "")],
            Ok(Source::Import {
                from: "dev/c".parse().unwrap(),
                force: true,
            }),
        );
    }

    #[test]
    fn refusals() {
        check(&[("help", "")], Err("Populous volume options"));
        check(&[("perfPolicy", "x")], Err("perfPolicy is not supported"));
        check(&[("encryption", "x")], Err("not supported"));
        check(&[("bogus", "1")], Err("unknown option \"bogus\""));
        check(
            &[("cloneOf", "a"), ("importVol", "b/c")],
            Err("exclude each other"),
        );
        check(&[("snapshot", "s")], Err("need cloneOf"));
        check(&[("importVolAsClone", "db")], Err("FOLDER/VOLUME"));
        check(&[("importVolAsClone", "a/b/c")], Err("FOLDER/VOLUME"));
        check(&[("importVol", "../etc")], Err("FOLDER/VOLUME"));
        check(&[("cloneOf", "db"), ("snapshot", "a/b")], Err("snapshot"));
        check(
            &[("cloneOf", "a"), ("snapshot", "s"), ("createSnapshot", "1")],
            Err("not both"),
        );
        check(&[("destroyOnRm", "maybe")], Err("expected true or false"));
        check(&[("fsOwner", "root")], Err("UID:GID"));
        check(&[("fsMode", "999")], Err("octal"));
        check(&[("size", "lots")], Err("size"));
        check(&[("restore", "")], Err("not supported yet"));
        check(&[("forceImport", "")], Err("goes with importVol"));
    }

    #[test]
    fn values_and_merge() {
        let p = parse(&opts(&[
            ("sizeInGiB", "2"),
            ("fsOwner", "999:998"),
            ("fsMode", "0750"),
            ("destroyOnRm", ""),
        ]))
        .expect("valid");
        assert_eq!(p.size, Some(2 << 30));
        assert_eq!(p.owner, Some((999, 998)));
        assert_eq!(p.mode, Some(0o750));
        assert!(p.destroy_on_rm && !p.destroy_on_detach);
        assert_eq!(
            parse(&opts(&[("size", "512M")])).expect("valid").size,
            Some(512 << 20)
        );
        assert_eq!(
            parse(&opts(&[("size", "1.5")])).expect("valid").size,
            Some(3 << 29)
        );
        let merged = merge(
            &opts(&[("size", "5"), ("folder", "prod")]),
            &opts(&[("size", "1"), ("destroyOnRm", "true")]),
            &opts(&[("folder", "dev")]),
        );
        assert_eq!(
            merged,
            opts(&[("size", "5"), ("destroyOnRm", "true"), ("folder", "dev")])
        );
    }
}
