import Foundation
import Metrics
import Synchronization
import VigilVision

/// Validation and detection of an uploaded frame, begun in this process as soon as the upload has arrived
/// (validation, while it is committed) and is committed (detection, while the `validate` and `detect` jobs
/// start). The stages' datums then take the results instead of reading the frame and computing them again, so
/// a frame's decode and inference overlap the commits and job starts ahead of them instead of waiting for them.
///
/// Nothing about what is stored changes: the validate and detect datums still run and write the same records
/// (a verdict and a detection are functions of the name, the bytes and the stage's settings, and a result is
/// used only by a stage with the same settings, for the same name and content hash).
/// Only an accepted verdict is shared: the one time-dependent rule (a name's time too far ahead of the clock)
/// can only turn from reject to accept as time passes, so a rejection is judged again by the stage.
///
/// Work runs on the stages' own threads (validate's at low priority, then the detector's), in the order
/// offered, so it competes with nothing the stages would not have run anyway. With no validate or no detect
/// stage in this process (an API alone, workers elsewhere) nothing is offered. At most `capacity` frames are
/// held; past it, finished results nobody took are dropped, oldest first, and new frames are not prefetched
/// while every held one is still being worked on.
public final class FramePrefetch: Sendable {
    /// The process's prefetch, which the upload route offers to and the stages take from.
    public static let shared = FramePrefetch(capacity: 32)

    /// A stage's place in the prefetch while it lives.
    public final class Registration: Sendable {
        fileprivate let id: Int
        private let owner: FramePrefetch

        fileprivate init(id: Int, owner: FramePrefetch) {
            self.id = id
            self.owner = owner
        }

        deinit { owner.unregister(id) }
    }

    /// A result and when it was finished (for the stage's spans).
    public struct Finished<Value: Sendable>: Sendable {
        public var value: Value
        public var started: Date
        public var finished: Date
    }

    private enum Phase<Value: Sendable>: Sendable {
        case pending([CheckedContinuation<Finished<Value>?, Never>])
        case done(Finished<Value>?)

        var isDone: Bool { if case .done = self { true } else { false } }
    }

    private struct Slot: Sendable {
        var rules: ValidationRules
        var detector: DetectorIdentity
        var verdict: Phase<ImageValidator.Verdict> = .pending([])
        var detection: Phase<Detector.Result> = .pending([])
        /// Whether the frame's upload is committed (detection may start), and the detection that waits for it.
        var committed: Bool
        var detectOnceCommitted: (@Sendable () -> Void)?
    }

    /// What makes two detectors give the same result for the same bytes.
    private struct DetectorIdentity: Sendable, Hashable {
        var configuration: Detector.Configuration
        var sha256: String

        init(_ detector: Detector) {
            var configuration = detector.configuration
            // Threads and spinning change how fast, not what.
            configuration.intraOpThreads = 1
            configuration.allowSpinning = false
            self.configuration = configuration
            sha256 = detector.model.sha256
        }
    }

    private struct Validating: Sendable {
        var validator: ImageValidator
        var thread: WorkerThread
    }

    private struct Detecting: Sendable {
        var detector: Detector
        var thread: WorkerThread
    }

    private struct State: Sendable {
        var validators: [Int: Validating] = [:]
        var detectors: [Int: Detecting] = [:]
        var nextID = 0
        var turn = 0
        var slots: [String: Slot] = [:]
        var order: [String] = []

        mutating func remove(_ key: String) {
            slots[key] = nil
            order.removeAll { $0 == key }
        }
    }

    private let state = Mutex(State())
    public let capacity: Int

    /// Frames offered, refused (no stages, or the hold full) and dropped untaken; results the stages used.
    /// Made at each count, not kept: the process-wide prefetch may be made before metrics are set up.
    private static func count(frames outcome: String) {
        Counter(label: "vigil_prefetch_frames_total", dimensions: [("outcome", outcome)]).increment()
    }

    private static func count(usedBy stage: String) {
        Counter(label: "vigil_prefetch_used_total", dimensions: [("stage", stage)]).increment()
    }

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    // MARK: Stages

    /// A validate stage in this process: frames are judged with `validator` on `thread`.
    public func register(validator: ImageValidator, thread: WorkerThread) -> Registration {
        state.withLock { state in
            state.nextID += 1
            state.validators[state.nextID] = Validating(validator: validator, thread: thread)
            return Registration(id: state.nextID, owner: self)
        }
    }

    /// A detect stage in this process: accepted frames are detected with `detector` on `thread`.
    public func register(detector: Detector, thread: WorkerThread) -> Registration {
        state.withLock { state in
            state.nextID += 1
            state.detectors[state.nextID] = Detecting(detector: detector, thread: thread)
            return Registration(id: state.nextID, owner: self)
        }
    }

    fileprivate func unregister(_ id: Int) {
        state.withLock { state in
            state.validators[id] = nil
            state.detectors[id] = nil
        }
    }

    /// Whether an offer would be taken up: a validate and a detect stage run here, each with one setting.
    public var isActive: Bool { state.withLock { Self.stages(of: $0) != nil } }

    /// The one validator and one detector (of those with equal settings, in turn), or nil when stages with
    /// different settings run here (which of them a frame will meet is not known), or a validator judges by a
    /// clock of its own (its future check would differ).
    private static func stages(of state: State) -> (Validating, Detecting)? {
        guard let validator = state.validators.min(by: { $0.key < $1.key })?.value,
            state.validators.values.allSatisfy({
                $0.validator.rules == validator.validator.rules && $0.validator.judgesBySystemClock
            })
        else { return nil }
        let detectors = state.detectors.sorted { $0.key < $1.key }.map(\.value)
        guard let first = detectors.first,
            detectors.allSatisfy({ DetectorIdentity($0.detector) == DetectorIdentity(first.detector) })
        else { return nil }
        return (validator, detectors[state.turn % detectors.count])
    }

    // MARK: Offering

    /// Starts judging and, when accepted, detecting the frame `name` whose bytes are `data` (content hash
    /// `hash`). Returns whether it was taken up. Never throws and never waits: an upload is not slowed by it.
    ///
    /// `awaitingCommit`: the frame's upload is still being committed. It is judged at once (on validate's
    /// low-priority thread, so a large PNG's decode overlaps the commit without delaying it much), but the
    /// detector starts only at `committed(name:hash:)`: inference on both cores would hold up the commit the
    /// camera waits for. An upload that fails calls `withdraw(name:hash:)`.
    @discardableResult
    public func offer(name: String, hash: String, data: Data, awaitingCommit: Bool = false) -> Bool {
        let key = Self.key(name: name, hash: hash)
        var dropped = false
        let picked: (Validating, Detecting)? = state.withLock { state in
            guard state.slots[key] == nil, let (validating, detecting) = Self.stages(of: state) else { return nil }
            if state.slots.count >= capacity {
                guard
                    let oldest = state.order.firstIndex(where: { key in
                        state.slots[key].map { $0.verdict.isDone && $0.detection.isDone } ?? true
                    })
                else { return nil }
                state.remove(state.order[oldest])
                dropped = true
            }
            state.turn &+= 1
            state.slots[key] = Slot(
                rules: validating.validator.rules, detector: DetectorIdentity(detecting.detector),
                committed: !awaitingCommit)
            state.order.append(key)
            return (validating, detecting)
        }
        if dropped { Self.count(frames: "dropped") }
        guard let (validating, detecting) = picked else {
            Self.count(frames: "refused")
            return false
        }
        Self.count(frames: "offered")
        let validator = validating.validator
        let (detector, detectThread) = (detecting.detector, detecting.thread)
        validating.thread.submit { [self] in
            let started = Date()
            let verdict = validator.judge(name: name, data: data, key: hash)
            guard verdict.isValid else {
                finish(key, verdict: nil, detection: nil)
                return
            }
            let judged = Finished(value: verdict, started: started, finished: Date())
            let detect: @Sendable () -> Void = { [self] in
                detectThread.submit { [self] in
                    let started = Date()
                    let result = try? detector.detect(data, cacheKey: hash)
                    finish(key, detection: result.map { Finished(value: $0, started: started, finished: Date()) })
                }
            }
            // A frame withdrawn meanwhile has no place: it is not detected.
            let now = state.withLock { state -> Bool in
                guard let slot = state.slots[key] else { return false }
                if slot.committed { return true }
                state.slots[key]?.detectOnceCommitted = detect
                return false
            }
            if now { detect() }
            // Published after the detector has its work: waking the validate datum that waits for the verdict
            // hands the core to it, and this low-priority thread would not get it back for a while.
            finish(key, verdict: judged)
        }
        return true
    }

    /// The upload of a frame offered `awaitingCommit` is committed: its detection may start (at once if it
    /// has been judged, else as soon as it is).
    public func committed(name: String, hash: String) {
        let key = Self.key(name: name, hash: hash)
        let detect = state.withLock { state -> (@Sendable () -> Void)? in
            guard state.slots[key] != nil else { return nil }
            state.slots[key]?.committed = true
            defer { state.slots[key]?.detectOnceCommitted = nil }
            return state.slots[key]?.detectOnceCommitted
        }
        detect?()
    }

    /// The upload of a frame offered `awaitingCommit` failed: its place is freed and nothing is detected. A
    /// place another upload of the same name and bytes has committed meanwhile stays.
    public func withdraw(name: String, hash: String) {
        let key = Self.key(name: name, hash: hash)
        guard state.withLock({ $0.slots[key]?.committed == false }) else { return }
        // A datum of an earlier commit of the same name and bytes may be waiting on this place: it is told
        // there is no result (and judges and detects itself).
        finish(key, verdict: nil, detection: nil)
        let removed = state.withLock { state -> Bool in
            guard state.slots[key]?.committed == false else { return false }
            state.remove(key)
            return true
        }
        if removed { Self.count(frames: "withdrawn") }
    }

    private static func key(name: String, hash: String) -> String { "\(hash)/\(name)" }

    private func finish(
        _ key: String, verdict: Finished<ImageValidator.Verdict>?, detection: Finished<Detector.Result>?
    ) {
        finish(key, verdict: verdict)
        finish(key, detection: detection)
    }

    private func finish(_ key: String, verdict: Finished<ImageValidator.Verdict>?) {
        finish(key, \.verdict, with: verdict)
    }

    private func finish(_ key: String, detection: Finished<Detector.Result>?) {
        finish(key, \.detection, with: detection)
    }

    /// Ends one phase of a frame's work and wakes whoever waits for it.
    private func finish<Value>(
        _ key: String, _ phase: WritableKeyPath<Slot, Phase<Value>>, with value: Finished<Value>?
    ) {
        let waiters = state.withLock { state -> [CheckedContinuation<Finished<Value>?, Never>] in
            guard case .pending(let waiters) = state.slots[key]?[keyPath: phase] else { return [] }
            state.slots[key]?[keyPath: phase] = .done(value)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// One phase's result for the frame `key` if its slot `matches` the asking stage, waiting while it is
    /// pending; nil when there is none for that stage.
    private func result<Value>(
        _ key: String, _ phase: WritableKeyPath<Slot, Phase<Value>>, matching matches: (Slot) -> Bool
    ) async -> Finished<Value>? {
        await withCheckedContinuation { continuation in
            let ready: Finished<Value>?? = state.withLock { state in
                guard let slot = state.slots[key], matches(slot) else { return .some(nil) }
                switch slot[keyPath: phase] {
                case .done(let value): return .some(value)
                case .pending(let waiters):
                    state.slots[key]?[keyPath: phase] = .pending(waiters + [continuation])
                    return nil
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    // MARK: Taking

    /// The accepted verdict judged for this frame as `validator` would judge it, waiting while it is being
    /// judged; nil when none was (not offered, other rules or another clock, or rejected: the stage judges it
    /// itself).
    public func verdict(
        name: String, hash: String, validator: ImageValidator
    ) async -> Finished<ImageValidator.Verdict>? {
        let key = Self.key(name: name, hash: hash)
        let found = await result(key, \.verdict) { validator.judgesBySystemClock && $0.rules == validator.rules }
        guard found != nil else {
            // Rejected: detect never asks for it.
            state.withLock { state in
                if case .done(nil) = state.slots[key]?.verdict { state.remove(key) }
            }
            return nil
        }
        Self.count(usedBy: "validate")
        return found
    }

    /// The detection made for this frame by a detector like `detector`, waiting while it is being made; nil
    /// when none was (the stage detects itself). The frame's place is freed either way.
    public func detection(name: String, hash: String, detector: Detector) async -> Finished<Detector.Result>? {
        let key = Self.key(name: name, hash: hash)
        let identity = DetectorIdentity(detector)
        let found = await result(key, \.detection) { $0.detector == identity }
        state.withLock { state in
            if let slot = state.slots[key], slot.detector == identity, slot.detection.isDone { state.remove(key) }
        }
        if found != nil { Self.count(usedBy: "detect") }
        return found
    }

    /// Frames held now (for tests).
    public var held: Int { state.withLock { $0.slots.count } }

    /// Frames judged and accepted whose detection waits for their upload's commit (for tests).
    public var awaitingCommit: Int { state.withLock { $0.slots.values.count { $0.detectOnceCommitted != nil } } }
}
