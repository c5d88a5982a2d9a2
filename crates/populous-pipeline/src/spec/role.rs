//! The roles an environment runs, as written in its `roles` list.

use serde::{Deserialize, Serialize};

/// The roles, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Build the images, tagged with the build string.
    Build,
    /// Push them to the registry.
    Ship,
    /// Data volume, db and app services; in prod, a rolling update of the app.
    Run,
    /// Mask the environment's database volume.
    Mask,
    /// Poll `/_ping` until it serves the build string.
    Smoke,
    /// Remove the services and take the data volume offline.
    Destroy,
    /// A golden copy: clone `data.clone_of`, mask it, and put it in place of
    /// the environment's volume in one step. No services; dev clones it.
    Refresh,
}

impl Role {
    /// The role's name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Build => "build",
            Role::Ship => "ship",
            Role::Run => "run",
            Role::Mask => "mask",
            Role::Smoke => "smoke",
            Role::Destroy => "destroy",
            Role::Refresh => "refresh",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Role, String> {
        [
            Role::Build,
            Role::Ship,
            Role::Run,
            Role::Mask,
            Role::Smoke,
            Role::Destroy,
            Role::Refresh,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            format!("{s:?} is not a role: build, ship, run, mask, smoke, destroy or refresh")
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
