import Foundation
import VigilStore

/// The local files a `put` names, with where each goes.
struct LocalFiles {
    var source: URL
    var destination: String

    static func collect(_ paths: [String], under prefix: String) throws -> [LocalFiles] {
        var out: [LocalFiles] = []
        for path in paths {
            let url = URL(fileURLWithPath: path).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw VigilError(.pathNotFound, "no local file or folder '\(path)'", value: path)
            }
            guard isDirectory.boolValue else {
                out.append(LocalFiles(source: url, destination: StorePath.join(prefix, url.lastPathComponent)))
                continue
            }
            guard
                let walker = FileManager.default.enumerator(
                    at: url, includingPropertiesForKeys: [.isRegularFileKey], options: [])
            else { throw VigilError(.io, "cannot read folder '\(path)'", value: path) }
            let base = url.path.hasSuffix("/") ? url.path : url.path + "/"
            for case let file as URL in walker {
                guard (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let relative = String(file.standardizedFileURL.path.dropFirst(base.count))
                out.append(LocalFiles(source: file, destination: try StorePath.normalize(prefix + "/" + relative)))
            }
        }
        return out
    }
}
