import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The data folder holds images from people's homes and their contacts' details: Vigil makes it for its own
/// user only (0700), so nothing inside can be read by anyone else whatever the files' own modes.
public enum DataFolder {
    /// Makes `home` (and any missing parents, with the usual modes) if it is not there. One that exists is
    /// left as it is (an operator may share it on purpose, e.g. with a backup user): the long-running
    /// commands say so at start (`openToOthers`).
    public static func create(_ home: URL, logger: Logger) throws {
        var info = stat()
        if stat(home.path, &info) == 0 { return }
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

    /// A warning when others may enter `home` (its mode); nil when only its owner may.
    public static func openToOthers(_ home: URL) -> String? {
        var info = stat()
        guard stat(home.path, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
        return "the data folder \(home.path) can be entered by other users (mode "
            + "\(String(info.st_mode & 0o777, radix: 8))); `chmod 700` it unless that is meant"
    }
}
