import CVigilSandbox
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whether external commands see their datum's folder at `/pfs` itself, as in a Pachyderm worker, so that
/// code which names `/pfs/<input>` or `/pfs/out` inside it (not only in its arguments) runs unchanged. That
/// takes a mount namespace per command, so root with CAP_SYS_ADMIN; the mount is the command's alone and
/// `/pfs` on the host stays an empty folder (made here when missing). Without it, `/pfs` in a command's
/// arguments, standard input and environment is rewritten to the datum's folder instead.
enum PFSMount {
    static let target = "/pfs"

    /// Settled once per process: a fork to try a namespace, and perhaps a `mkdir /pfs`.
    static let available: Bool = {
        guard geteuid() == 0, vigil_sandbox_can_mount() == 0 else { return false }
        var status = stat()
        if stat(target, &status) == 0 { return (status.st_mode & S_IFMT) == S_IFDIR }
        // 0755 whatever the umask: the mount hides it, but an empty /pfs should not look private.
        return (mkdir(target, 0o755) == 0 && chmod(target, 0o755) == 0) || errno == EEXIST
    }()
}
