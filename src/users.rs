//! Users and groups from `/etc/passwd` and `/etc/group`, read directly:
//! no NSS, so the static binary resolves names the same way in a scratch
//! image, a VM's initramfs or a full distribution.

use std::fmt;

/// What a service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: every group listing the user as a member.
    pub groups: Vec<u32>,
    /// For `USER` and `HOME` in the service's environment.
    pub name: String,
    pub home: String,
}

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// The two databases, parsed once per (re)load.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    users: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
}

/// A `user:` or `group:` that names nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    UnknownUser(String),
    UnknownGroup(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::UnknownUser(u) => write!(f, "unknown user \"{u}\" (not in /etc/passwd)"),
            LookupError::UnknownGroup(g) => write!(f, "unknown group \"{g}\" (not in /etc/group)"),
        }
    }
}

impl UserDb {
    /// Reads `/etc/passwd` and `/etc/group`; a missing file is an empty
    /// database (numeric IDs still work).
    pub fn load() -> UserDb {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        UserDb::parse(&passwd, &group)
    }

    pub fn parse(passwd: &str, group: &str) -> UserDb {
        let users = passwd
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                match f.as_slice() {
                    [name, _pw, uid, gid, _gecos, home, ..] if !name.starts_with('#') => {
                        Some(PasswdEntry {
                            name: name.to_string(),
                            uid: uid.parse().ok()?,
                            gid: gid.parse().ok()?,
                            home: home.to_string(),
                        })
                    }
                    _ => None,
                }
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                match f.as_slice() {
                    [name, _pw, gid, members, ..] if !name.starts_with('#') => Some(GroupEntry {
                        name: name.to_string(),
                        gid: gid.parse().ok()?,
                        members: members
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(str::to_string)
                            .collect(),
                    }),
                    _ => None,
                }
            })
            .collect();
        UserDb { users, groups }
    }

    /// Resolves `user` (a name or a number) and optionally `group`. The
    /// group defaults to the user's primary group; a number absent from
    /// `/etc/passwd` runs with that ID, its own number as group and `/` as
    /// home.
    pub fn resolve(
        &self,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<Credentials, LookupError> {
        let mut creds = match user {
            None => Credentials {
                uid: 0,
                gid: 0,
                groups: Vec::new(),
                name: "root".into(),
                home: "/root".into(),
            },
            Some(u) => {
                let entry = self.users.iter().find(|e| e.name == u).or_else(|| {
                    u.parse::<u32>()
                        .ok()
                        .and_then(|n| self.users.iter().find(|e| e.uid == n))
                });
                match (entry, u.parse::<u32>()) {
                    (Some(e), _) => Credentials {
                        uid: e.uid,
                        gid: e.gid,
                        groups: self
                            .groups
                            .iter()
                            .filter(|g| g.members.contains(&e.name))
                            .map(|g| g.gid)
                            .collect(),
                        name: e.name.clone(),
                        home: e.home.clone(),
                    },
                    (None, Ok(n)) => Credentials {
                        uid: n,
                        gid: n,
                        groups: Vec::new(),
                        name: n.to_string(),
                        home: "/".into(),
                    },
                    (None, Err(_)) => return Err(LookupError::UnknownUser(u.to_string())),
                }
            }
        };
        if let Some(g) = group {
            creds.gid = match self.groups.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None => g
                    .parse()
                    .map_err(|_| LookupError::UnknownGroup(g.to_string()))?,
            };
        }
        Ok(creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n# comment\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nbroken line\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwww-data:x:33:\nadm:x:4:alice,bob\nstaff:x:50:alice\nalice:x:1000:\n";

    #[test]
    fn resolves_names_numbers_and_supplementary_groups() {
        let db = UserDb::parse(PASSWD, GROUP);
        let a = db.resolve(Some("alice"), None).unwrap();
        assert_eq!(
            (a.uid, a.gid, a.groups.clone(), a.home.as_str()),
            (1000, 1000, vec![4, 50], "/home/alice")
        );
        let w = db.resolve(Some("33"), Some("adm")).unwrap();
        assert_eq!((w.uid, w.gid, w.name.as_str()), (33, 4, "www-data"));
        let n = db.resolve(Some("4242"), None).unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (4242, 4242, "/"));
        assert_eq!(db.resolve(None, Some("50")).unwrap().gid, 50);
    }

    #[test]
    fn unknown_names_are_errors() {
        let db = UserDb::parse(PASSWD, GROUP);
        assert_eq!(
            db.resolve(Some("mallory"), None),
            Err(LookupError::UnknownUser("mallory".into()))
        );
        assert_eq!(
            db.resolve(Some("alice"), Some("wheel")),
            Err(LookupError::UnknownGroup("wheel".into()))
        );
    }
}
