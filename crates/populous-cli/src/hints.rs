//! Advice in the CLI's own terms, added to engine errors.
//!
//! The engine states facts ("volume dev/x has snapshots s1, s2"); only the CLI
//! knows its commands and flags, so the advice that names them lives here,
//! chosen by the error's variant and [`Case`].

use populous_engine::{Case, Error};

/// The advice for the first error in the chain that has one: engine errors,
/// directly or inside an operation's error, and the operations' own.
pub fn for_chain(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<Error>() {
            return hint(e);
        }
        match e.downcast_ref::<populous_ops::Error>()? {
            populous_ops::Error::Engine(e) => hint(e),
            populous_ops::Error::NoOrigin { .. } => {
                Some(" (give the original data with --source FOLDER/VOL@SNAP)".to_owned())
            }
            populous_ops::Error::NotRunning { volume } => {
                Some(format!(" (start one with `populous db start {volume}`)"))
            }
            populous_ops::Error::MaskWouldNotFit { .. } | populous_ops::Error::DiskFull { .. } => {
                Some(
                    " (grow the pool or free space in it, then run the same masking again)"
                        .to_owned(),
                )
            }
            populous_ops::Error::WouldNotFit { .. } => Some(
                " (grow the pool, free space in it, or ask for less with --size/--rows)".to_owned(),
            ),
            _ => None,
        }
    })
}

/// The advice to append to an engine error's message, starting with a space.
pub fn hint(e: &Error) -> Option<String> {
    let text = match (e, e.case()) {
        (Error::NotFound { what, name, .. }, _) => match *what {
            "pool" => "list pools with `populous pool ls`".to_owned(),
            "folder" => "create it with `populous folder create POOL/FOLDER`".to_owned(),
            "volume" => {
                let folder = name.split('/').next().unwrap_or(name);
                format!("list volumes with `populous volume ls {folder} --all`")
            }
            "snapshot" => {
                let vol = name.split('@').next().unwrap_or(name);
                format!("list snapshots with `populous snapshot ls {vol}`")
            }
            _ => return None,
        },
        (Error::InvalidInput { what: "token", .. }, _) => {
            "give at least one --folder, or --admin".to_owned()
        }
        (Error::AlreadyExists { what: "token", .. }, _) => {
            "revoke it first with `populous token rm`".to_owned()
        }
        (_, Case::ImageExists) => {
            "choose another --image path, or adopt an existing mount with --path".to_owned()
        }
        (_, Case::ImportTargetExists) => "import it under another name with --as NAME".to_owned(),
        (_, Case::RenameTargetExists) => "pass --replace to destroy it and take its name".to_owned(),
        (_, Case::VolumeHasSnapshots) => "remove them with `populous snapshot rm`, or pass --recursive to destroy them too; clones made from them keep working".to_owned(),
        (_, Case::PoolHasFolders) => "remove them first with `populous folder rm`".to_owned(),
        (_, Case::PoolDataNotEmpty) => {
            "run `populous check --repair` to remove orphans, then retry".to_owned()
        }
        (Error::HasDependents { name, .. }, Case::FolderHasVolumes) => {
            let folder = name.strip_prefix("folder ").unwrap_or(name);
            format!("destroy them with `populous volume rm {folder}/VOL --destroy` or import them elsewhere first")
        }
        (Error::Unavailable { pool, .. }, Case::ImageMissing) => {
            format!("restore it; a pool without folders can be removed with `populous pool rm {pool}`")
        }
        (Error::WrongState { name, .. }, Case::VolumeOffline) => {
            format!("bring it online with `populous volume online {name}`")
        }
        (Error::WrongState { name, .. }, Case::VolumeOnline) => {
            format!("take it offline with `populous volume offline {name}`")
        }
        (_, Case::NameInFlux) => "run `populous check` and retry".to_owned(),
        (_, Case::NoCopyOnWrite) => {
            "pass --backend copy to accept slow full copies".to_owned()
        }
        (_, Case::NotBtrfs) => "try --backend reflink on XFS".to_owned(),
        (Error::PolicyDenied { to, from, .. }, Case::CloneSourceNotAllowed) => {
            format!("allow it with `populous folder policy {to} --clone-from {from}`")
        }
        (Error::PolicyDenied { to, from, .. }, Case::ImportSourceNotAllowed) => {
            format!("allow it with `populous folder policy {to} --import-from {from}`")
        }
        (_, Case::MaskingRequired) => "mask it first with `populous mask`".to_owned(),
        _ => return None,
    };
    Some(format!(" ({text})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_dependents(case: Case) -> Error {
        Error::HasDependents {
            name: "volume dev/x".into(),
            dependents: "it has snapshots dev/x@s1".into(),
            case,
        }
    }

    #[test]
    fn flags_are_named_here_not_in_the_engine() {
        let e = has_dependents(Case::VolumeHasSnapshots);
        assert!(!e.to_string().contains("--"), "{e}");
        assert!(hint(&e).is_some_and(|h| h.contains("--recursive")));
        assert_eq!(hint(&has_dependents(Case::General)), None);
        let policy = Error::PolicyDenied {
            detail: "folder dev may not clone from folder prod".into(),
            to: "dev".into(),
            from: "prod".into(),
            case: Case::CloneSourceNotAllowed,
        };
        assert_eq!(
            hint(&policy).as_deref(),
            Some(" (allow it with `populous folder policy dev --clone-from prod`)")
        );
    }
}
