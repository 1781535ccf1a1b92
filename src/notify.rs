//! The sd_notify protocol, as a service speaks it: newline-separated
//! `KEY=VALUE` assignments in one datagram (`READY=1`, `STATUS=…`,
//! `MAINPID=…`; see sd_notify(3)). Daemons written for systemd's
//! `Type=notify` work unchanged.

use crate::sys::Pid;

/// What one datagram says. Unknown keys are ignored, as systemd does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub ready: bool,
    pub status: Option<String>,
    pub main_pid: Option<Pid>,
}

/// Parses a datagram; `None` for something that is not sd_notify text.
pub fn parse(bytes: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut msg = Message::default();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once('=')?;
        match key {
            "READY" => msg.ready = value == "1",
            "STATUS" => msg.status = Some(value.chars().take(256).collect()),
            // Any positive number: whether it may be the service's main
            // process is for the supervisor to judge (and to log).
            "MAINPID" => msg.main_pid = value.parse().ok().and_then(Pid::new),
            _ => {}
        }
    }
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_messages() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=Serving 3 clients\nMAINPID=4242\n"),
            Some(Message {
                ready: true,
                status: Some("Serving 3 clients".into()),
                main_pid: Pid::new(4242)
            })
        );
        assert_eq!(
            parse(b"STATUS=warming up"),
            Some(Message {
                status: Some("warming up".into()),
                ..Message::default()
            })
        );
        assert_eq!(parse(b"WATCHDOG=1\nX_FOO=bar"), Some(Message::default()));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(parse(b"\xff\xfe"), None);
        assert_eq!(parse(b"no equals sign"), None);
        assert_eq!(
            parse(b"MAINPID=1\n"),
            Some(Message {
                main_pid: Some(Pid::INIT),
                ..Message::default()
            })
        );
        assert_eq!(parse(b"MAINPID=-3\nREADY=0"), Some(Message::default()));
    }
}
