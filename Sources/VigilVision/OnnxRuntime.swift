internal import COnnxRuntime
import Foundation
import Synchronization

/// The ONNX Runtime library, loaded at run time (see `vigil_ort_load`), and its one environment. Both live
/// for the rest of the process; ONNX Runtime's environment and sessions are safe to use from several threads.
public final class OnnxRuntime: @unchecked Sendable {
    let api: UnsafePointer<OrtApi>
    let environment: OpaquePointer
    public let version: String
    public let libraryPath: String

    private static let loaded = Mutex<[String: OnnxRuntime]>([:])

    /// Where the library is looked for when no path is given: `$VIGIL_ONNXRUNTIME_LIB`, then the project's
    /// `.deps/onnxruntime/lib` (from the current folder and from the executable's build folder), then the
    /// system's library path.
    public static func defaultLibraryPaths() -> [String] {
        var paths: [String] = []
        if let path = ProcessInfo.processInfo.environment["VIGIL_ONNXRUNTIME_LIB"] { paths.append(path) }
        let name = "onnxruntime/lib/libonnxruntime.so.1"
        paths += ProjectFiles.depsFolders().map { $0.appendingPathComponent(name).path }
        paths.append("libonnxruntime.so.1")
        return paths
    }

    /// The runtime at `path`, or at the first default path that loads; loaded once per path.
    public static func load(path: String? = nil) throws(DetectorError) -> OnnxRuntime {
        let candidates = path.map { [$0] } ?? defaultLibraryPaths()
        var reasons: [String] = []
        for candidate in candidates {
            if let runtime = loaded.withLock({ $0[candidate] }) { return runtime }
            if candidate.contains("/"), !FileManager.default.fileExists(atPath: candidate) {
                reasons.append("\(candidate): no such file")
                continue
            }
            var error = [CChar](repeating: 0, count: 512)
            var version: UnsafePointer<CChar>?
            guard let api = vigil_ort_load(candidate, &version, &error, error.count) else {
                reasons.append(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                continue
            }
            var environment: OpaquePointer?
            if let status = api.pointee.CreateEnv(ORT_LOGGING_LEVEL_WARNING, "vigil", &environment) {
                let message = api.pointee.GetErrorMessage(status).map { String(cString: $0) } ?? "unknown error"
                api.pointee.ReleaseStatus(status)
                throw DetectorError(.runtimeMissing, "ONNX Runtime at \(candidate) cannot start: \(message)")
            }
            _ = api.pointee.DisableTelemetryEvents(environment)
            let runtime = OnnxRuntime(
                api: api, environment: environment!, version: version.map { String(cString: $0) } ?? "?",
                libraryPath: candidate)
            return loaded.withLock { $0[candidate, default: runtime] }
        }
        throw DetectorError(
            .runtimeMissing,
            "ONNX Runtime is not installed where Vigil looks (\(reasons.joined(separator: "; "))); run "
                + "`make setup` (scripts/setup-detector.sh) or set VIGIL_ONNXRUNTIME_LIB to libonnxruntime.so.1",
            value: candidates.first)
    }

    private init(api: UnsafePointer<OrtApi>, environment: OpaquePointer, version: String, libraryPath: String) {
        self.api = api
        self.environment = environment
        self.version = version
        self.libraryPath = libraryPath
    }

    /// Throws the status's message (and frees it) when it is an error.
    func check(_ status: OpaquePointer?, _ what: String, code: DetectorError.Code = .inference) throws(DetectorError) {
        guard let status else { return }
        let message = api.pointee.GetErrorMessage(status).map { String(cString: $0) } ?? "unknown error"
        api.pointee.ReleaseStatus(status)
        throw DetectorError(code, "\(what): \(message)")
    }
}

/// Where the project keeps what its set-up downloads (`.deps/`), seen from here.
enum ProjectFiles {
    /// `.deps` under the current folder, and beside the package root the executable was built in
    /// (`<root>/.build/<triple>/<config>/vigil`).
    static func depsFolders() -> [URL] {
        var folders = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".deps")]
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            folder = folder.deletingLastPathComponent()
            folders.append(folder.appendingPathComponent(".deps"))
        }
        return folders
    }
}
