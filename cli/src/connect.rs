//! Reaching QEMU, with errors that say what to do about it.

use std::io::ErrorKind;
use std::time::Duration;

use qemu_qmp::{Client, ClientBuilder, Endpoint, Error};

use crate::failure::Failure;
use crate::ConnectOptions;

/// A client builder with the tool's limits: `--connect-timeout` for the dial and the
/// negotiation, no default command timeout (each subcommand sets its own).
pub fn builder(options: &ConnectOptions) -> ClientBuilder {
    Client::builder()
        .connect_timeout(options.connect_timeout())
        .negotiate_timeout(options.connect_timeout())
        .command_timeout(None)
}

/// Connects `client` (built with [`builder`], maybe already subscribed) to its endpoint.
pub async fn connect(
    client: &Client,
    endpoint: &Endpoint,
    options: &ConnectOptions,
) -> Result<(), Failure> {
    client
        .reconnect()
        .await
        .map_err(|e| explain(endpoint, options.connect_timeout(), e))
}

/// Builds a client for `endpoint` and connects it.
pub async fn open(endpoint: &Endpoint, options: &ConnectOptions) -> Result<Client, Failure> {
    let client = builder(options).build(endpoint.clone());
    connect(&client, endpoint, options).await?;
    Ok(client)
}

/// One line for a failed connect: which address, what happened, what to check.
pub fn explain(endpoint: &Endpoint, waited: Duration, error: Error) -> Failure {
    let at = match endpoint {
        Endpoint::Unix(path) => path.display().to_string(),
        Endpoint::Tcp(addr) => addr.clone(),
    };
    let message = match &error {
        Error::Io(e) => match (e.kind(), endpoint) {
            (ErrorKind::NotFound, Endpoint::Unix(_)) => format!(
                "no socket at {at}: is QEMU running with `-qmp unix:{at},server=on,wait=off`?"
            ),
            (ErrorKind::ConnectionRefused, Endpoint::Unix(path)) if !is_socket(path) => {
                format!("{at} is not a socket: give the path QEMU's `-qmp unix:PATH` names")
            }
            (ErrorKind::ConnectionRefused, Endpoint::Unix(_)) => format!(
                "nothing is listening on {at}: QEMU has exited and left its socket behind?"
            ),
            (ErrorKind::ConnectionRefused, Endpoint::Tcp(_)) => format!(
                "nothing is listening on {at}: is QEMU running with `-qmp tcp:{at},server=on,wait=off`?"
            ),
            (ErrorKind::PermissionDenied, _) => format!(
                "permission denied opening {at}: run as the socket's owner (see `ls -l {at}`) or as root"
            ),
            _ => format!("cannot connect to {at}: {e}"),
        },
        Error::Timeout(_) => format!(
            "{at} accepted the connection but sent no QMP greeting within {:.1}s: another client \
             probably holds this monitor (QEMU serves one client per QMP socket), or it is not a QMP socket",
            waited.as_secs_f64()
        ),
        Error::Disconnected => format!(
            "{at} closed the connection before the QMP greeting: another client may hold it, or it is not a QMP socket"
        ),
        other => format!("cannot talk QMP to {at}: {other}"),
    };
    Failure::connection(message)
}

fn is_socket(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
