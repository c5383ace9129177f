import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The data folder holds images from people's homes and their contacts' details: Vigil makes it for its own
/// user only (0700), so nothing inside can be read by anyone else whatever the files' own modes.
public enum DataFolder {
    /// Makes `home` (and any missing parents, with the usual modes) if it is not there; warns about one that
    /// others may enter, without changing it (an operator may share it on purpose, e.g. with a backup user).
    public static func create(_ home: URL, logger: Logger) throws {
        var info = stat()
        if stat(home.path, &info) == 0 {
            if info.st_mode & 0o077 != 0, info.st_uid == geteuid() {
                logger.warning(
                    "the data folder can be entered by other users; `chmod 700` it unless that is meant",
                    metadata: ["folder": "\(home.path)", "mode": "\(String(info.st_mode & 0o777, radix: 8))"])
            }
            return
        }
        do {
            try FileManager.default.createDirectory(
                at: home.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw VigilError(.io, "cannot create '\(home.path)': \(error.localizedDescription)", value: home.path)
        }
        guard mkdir(home.path, 0o700) == 0 || errno == EEXIST else {
            throw VigilError.io("create folder", home.path, errno: errno)
        }
        chmod(home.path, 0o700)
    }
}
