//! Each environment's checked, typed plan: what the file's optional fields
//! mean once the checks have passed. The runner reads these enums instead of
//! re-asking whether a field is there: a golden copy always has its source
//! and its mask, a clone always has a `FOLDER/VOLUME`, a token always has
//! exactly one source.

use super::file::{CopyMethod, EnvSpec, MaskSpec, PipelineFile, TokenSource};
use super::is_plain_name;
use super::role::Role;
use super::vars::{expand, Vars};

/// A volume of another folder: `FOLDER/VOLUME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    /// The folder.
    pub folder: String,
    /// The volume's name in it.
    pub volume: String,
}

impl VolumeRef {
    /// `FOLDER/VOLUME` with two plain names, or `None`.
    pub fn parse(s: &str) -> Option<VolumeRef> {
        match s.split_once('/') {
            Some((a, b)) if is_plain_name(a) && is_plain_name(b) => Some(VolumeRef {
                folder: a.to_string(),
                volume: b.to_string(),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for VolumeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.folder, self.volume)
    }
}

/// Where the run role's data volume comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// dev: a copy of another folder's volume, new for each build.
    CloneOf {
        /// What is copied.
        source: VolumeRef,
        /// How (the file's `copy`; a run may override it).
        copy: CopyMethod,
    },
    /// stage: the named environment's offline volume of the same name (`importVol`).
    ImportFrom(String),
    /// prod: a volume of its own, rolled forward in place; when it is new,
    /// filled with about `bytes` of generated data (`seed_size`), if given.
    Own {
        /// `seed_size` as written, for the report.
        seed: Option<(String, u64)>,
    },
}

/// What a golden copy copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoldenFrom {
    /// `data.clone_of`: a volume (through a new snapshot).
    Volume(VolumeRef),
    /// `data.from_source`: the newest clean base of a Populous source (a
    /// replica of production outside the pool).
    Source(String),
}

impl std::fmt::Display for GoldenFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoldenFrom::Volume(v) => write!(f, "{v}"),
            GoldenFrom::Source(s) => write!(f, "source {s}"),
        }
    }
}

/// A golden copy (roles `[refresh]`): what it copies and how it masks it.
#[derive(Debug, Clone)]
pub struct Golden {
    /// `data.clone_of` or `data.from_source`.
    pub source: GoldenFrom,
    /// The mask section.
    pub mask: MaskSpec,
}

/// One environment, checked.
#[derive(Debug, Clone)]
pub struct EnvPlan {
    /// Where its Populous token comes from.
    pub token: TokenSource,
    /// Where its data volume comes from.
    pub data: DataSource,
    /// Set when it is a golden copy (roles `[refresh]`), which runs no services.
    pub golden: Option<Golden>,
    /// The lb image's repository, when the app runs behind an lb.
    pub lb_repository: Option<String>,
}

impl EnvPlan {
    /// Checks environment `name` of file `f`; the message names the field.
    pub(super) fn check(
        f: &PipelineFile,
        name: &str,
        e: &EnvSpec,
    ) -> std::result::Result<EnvPlan, String> {
        let at = |what: &str| format!("environments.{name}.{what}");
        if !is_plain_name(name) {
            return Err(format!(
                "environment name {name:?}: use letters, digits, '.', '_' or '-'"
            ));
        }
        if e.roles.is_empty() {
            return Err(format!("{}: list at least one role", at("roles")));
        }
        let mut seen = Vec::new();
        for r in &e.roles {
            if seen.contains(r) {
                return Err(format!("{}: {r} is listed twice", at("roles")));
            }
            seen.push(*r);
        }
        let golden = e.is_golden();
        if golden && e.roles.len() > 1 {
            return Err(format!(
                "{}: refresh runs alone (a golden copy has no services); give the other roles to another environment",
                at("roles")
            ));
        }
        if e.data.from_source.is_some() && !golden {
            return Err(format!(
                "{}: only a golden copy (roles [refresh]) takes its data from a source",
                at("data.from_source")
            ));
        }
        if let Some(src) = &e.data.from_source {
            if !is_plain_name(src) || e.data.clone_of.is_some() {
                return Err(format!(
                    "{} {src:?}: a source's name, and no clone_of beside it",
                    at("data.from_source")
                ));
            }
        }
        if golden {
            if (e.data.clone_of.is_none() && e.data.from_source.is_none()) || e.mask.is_none() {
                return Err(format!(
                    "{}: refresh needs data.clone_of or data.from_source (what to copy) and a mask section (how to mask it)",
                    at("roles")
                ));
            }
            if e.data.volume.contains('{') {
                return Err(format!(
                    "{} {:?}: a golden copy keeps one name that others clone; no placeholders",
                    at("data.volume"),
                    e.data.volume
                ));
            }
        }
        let mut plain = vec![("folder", &e.folder)];
        if !golden {
            plain.push(("driver", &e.driver));
        }
        for (what, v) in plain {
            if !is_plain_name(v) {
                return Err(format!(
                    "{} {v:?}: use letters, digits, '.', '_' or '-'",
                    at(what)
                ));
            }
        }
        let Some(token) = e.token.source() else {
            return Err(format!(
                "{}: give {{ env: VARIABLE }} or {{ file: PATH }} (one of them; never the token itself)",
                at("token")
            ));
        };
        if e.port == 0 && !golden {
            return Err(format!("{}: give a port (1-65535)", at("port")));
        }
        let data = data_source(f, name, e, &at)?;
        if !e.on_pool() && !golden {
            if !matches!(data, DataSource::Own { .. }) || e.roles.contains(&Role::Mask) {
                return Err(format!(
                    "{}: a clone, an import or masking needs a Populous volume driver, not Docker's {:?} (outside any pool)",
                    at("driver"),
                    e.driver
                ));
            }
            if let Some((other, _)) = f
                .environments
                .iter()
                .find(|(_, o)| o.data.import_from.as_deref() == Some(name))
            {
                return Err(format!(
                    "environments.{other}.data.import_from {name:?}: its volume is outside any pool (driver {:?}); nothing to import",
                    e.driver
                ));
            }
        }
        if let Some(bad) = e.db.args.iter().find(|a| !a.starts_with("--")) {
            return Err(format!(
                "{} {bad:?}: options for mariadbd start with --",
                at("db.args")
            ));
        }
        if e.db.port == Some(0) {
            return Err(format!("{}: 1-65535", at("db.port")));
        }
        if let Some(r) = &e.requires {
            if !f.environments.contains_key(r) || r == name {
                return Err(format!(
                    "{} {r:?}: name another environment of this file",
                    at("requires")
                ));
            }
        }
        if e.roles.contains(&Role::Mask) && e.mask.is_none() {
            return Err(format!(
                "{}: the mask role needs a mask section (rules, key_file)",
                at("roles")
            ));
        }
        if !matches!(e.update.order.as_str(), "start-first" | "stop-first") {
            return Err(format!(
                "{} {:?}: start-first or stop-first",
                at("update.order"),
                e.update.order
            ));
        }
        if e.update.parallelism == 0 {
            return Err(format!("{}: at least 1", at("update.parallelism")));
        }
        if e.app.replicas == Some(0) {
            return Err(format!(
                "{}: at least 1 (or leave it out for a global service)",
                at("app.replicas")
            ));
        }
        let lb_repository = match (e.app.lb, f.app.images.get("lb")) {
            (false, _) => None,
            (true, Some(img)) => Some(img.repository.clone()),
            (true, None) => {
                return Err(format!(
                    "{}: app.images.lb is needed for an lb",
                    at("app.lb")
                ))
            }
        };
        if let Some(p) = &e.probe {
            if p.max_p99_ratio.is_nan() || p.max_p99_ratio < 1.0 {
                return Err(format!("{}: at least 1.0", at("probe.max_p99_ratio")));
            }
        }
        if !e.smoke.path.starts_with('/') {
            return Err(format!(
                "{} {:?}: a path starting with /",
                at("smoke.path"),
                e.smoke.path
            ));
        }
        // The volume name must stay plain whatever the build number.
        let v = expand(&e.data.volume, &Vars::example());
        if !is_plain_name(&v) {
            return Err(format!(
                "{} {:?}: expands to {v:?}, not a plain name",
                at("data.volume"),
                e.data.volume
            ));
        }
        let golden = match (&data, &e.data.from_source, &e.mask) {
            (_, Some(src), Some(mask)) if golden => Some(Golden {
                source: GoldenFrom::Source(src.clone()),
                mask: mask.clone(),
            }),
            (DataSource::CloneOf { source, .. }, None, Some(mask)) if golden => Some(Golden {
                source: GoldenFrom::Volume(source.clone()),
                mask: mask.clone(),
            }),
            // Checked above: a golden copy has both.
            _ => None,
        };
        Ok(EnvPlan {
            token,
            data,
            golden,
            lb_repository,
        })
    }
}

/// The `data` section as a [`DataSource`].
fn data_source(
    f: &PipelineFile,
    name: &str,
    e: &EnvSpec,
    at: &dyn Fn(&str) -> String,
) -> std::result::Result<DataSource, String> {
    let d = &e.data;
    if d.clone_of.is_some() && d.import_from.is_some() {
        return Err(format!(
            "{}: give clone_of or import_from, not both",
            at("data")
        ));
    }
    let clone_of = match &d.clone_of {
        Some(c) => match VolumeRef::parse(c) {
            Some(r) => Some(r),
            None => {
                return Err(format!(
                    "{} {c:?}: write FOLDER/VOLUME",
                    at("data.clone_of")
                ))
            }
        },
        None => None,
    };
    // Checked even where it is not used (a clone or an import), as before.
    let seed = match &d.seed_size {
        Some(size) => match populous_units::parse_size(size) {
            Ok(bytes) => Some((size.clone(), bytes)),
            Err(e) => return Err(format!("{}: {e}", at("data.seed_size"))),
        },
        None => None,
    };
    if let Some(src) = &d.import_from {
        if !f.environments.contains_key(src) || src == name {
            return Err(format!(
                "{} {src:?}: name another environment of this file",
                at("data.import_from")
            ));
        }
    }
    Ok(match (clone_of, &d.import_from) {
        (Some(source), _) => DataSource::CloneOf {
            source,
            copy: d.copy,
        },
        (None, Some(src)) => DataSource::ImportFrom(src.clone()),
        (None, None) => DataSource::Own { seed },
    })
}
