import Foundation
import Tracing
import VigilPipeline
import VigilStore
import VigilVision

/// The `validate` stage: each uploaded image goes to `/valid/<name>` (the same bytes: a copy that stores
/// nothing) or to `/invalid/<name>` with `/invalid/<name>.reason.json` saying why, so a drop in a chart can
/// be traced to the frames that were turned away.
public struct ValidateStage: Stage {
    public let validator: ImageValidator
    /// Decoding runs here, off the threads async code shares, and at a lower priority than the detector: a
    /// frame being validated while the one before it is inferred would otherwise slow that inference, and then
    /// wait for the detector anyway.
    private let thread: WorkerThread
    /// Where frames uploaded to this process are judged before this stage's job reaches them.
    private let prefetch: FramePrefetch?
    private let registration: FramePrefetch.Registration?
    /// A decode on its thread cannot be interrupted: cancelling would not end a datum sooner.
    public var endsWhenCancelled: Bool { false }

    /// `prefetch`: where this stage judges frames as their uploads arrive and takes the verdicts from
    /// (nil: every frame is judged in its datum).
    public init(validator: ImageValidator, prefetch: FramePrefetch? = .shared) {
        self.validator = validator
        let thread = WorkerThread(name: "vigil-validate", niceness: 10)
        self.thread = thread
        self.prefetch = prefetch
        registration = prefetch?.register(validator: validator, thread: thread)
    }

    /// The reason file written beside an invalid image.
    public struct Reason: Sendable, Hashable, Codable {
        public var image: String
        public var code: String
        public var message: String
        public var rule: String?
        public var threshold: String?
        public var measured: ImageValidator.Measurements
        public var device: String?
        public var time: Date?
    }

    public func process(_ datum: DatumContext) async throws {
        for input in datum.datum.inputs {
            for file in try await datum.files(of: input) {
                let name = file.entry.name
                let verdict = try await judge(file.entry, in: datum)
                guard let rejection = verdict.rejection else {
                    try datum.link("/valid/\(name)", to: file.entry.value)
                    continue
                }
                // A name that breaks the contract may not be usable as a path either: keep it safe.
                let safe = Self.safeFileName(name)
                try datum.link("/invalid/\(safe)", to: file.entry.value)
                let reason = Reason(
                    image: name, code: rejection.code, message: rejection.message, rule: rejection.rule,
                    threshold: rejection.threshold, measured: verdict.measured, device: verdict.name?.device,
                    time: verdict.name?.time)
                try await datum.write("/invalid/\(safe).reason.json", data: try Self.encoder.encode(reason))
                datum.log("\(name): \(rejection.code): \(rejection.message)")
            }
        }
    }

    /// The verdict on one file: judged when its upload arrived (`FramePrefetch`), or now.
    private func judge(_ entry: TreeEntry, in datum: DatumContext) async throws -> ImageValidator.Verdict {
        let (name, key) = (entry.name, entry.hash.hex)
        if let judged = await prefetch?.verdict(name: name, hash: key, validator: validator) {
            if TraceHeaders.isTracing {
                startSpan("judge", at: WallClockInstant(judged.started)).end(at: WallClockInstant(judged.finished))
            }
            return judged.value
        }
        let data = try await datum.read(entry)
        let validator = self.validator
        return try await withSpan("judge") { _ in
            try await thread.run { validator.judge(name: name, data: data, key: key) }
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// A store path component can hold any name but `.` and `..`; keep others as they are.
    static func safeFileName(_ name: String) -> String {
        name == "." || name == ".." || name.isEmpty ? "_\(name)" : name
    }
}
