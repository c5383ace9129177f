import Foundation
import Testing
import VigilStages
import VigilVision

/// A frame judged and detected as its upload is committed: the stages then take exactly what they would have
/// computed, and only when their settings are the ones it was computed with.
@Suite("Frames prefetched for the stages")
struct FramePrefetchTests {
    static func photo(_ name: String) throws -> Data {
        try Data(contentsOf: DetectorTests.samples.appendingPathComponent(name))
    }

    static func detector() throws -> Detector {
        try Detector(Detector.Configuration.defaultModel())
    }

    /// Waits (bounded) until `condition` holds, and asks no more once it has (a condition such as a successful
    /// offer does not hold twice).
    static func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<1_000 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A validate and a detect stage of default settings, registered with `prefetch` while the result lives.
    struct Stages {
        let validator = ImageValidator()
        let detector: Detector
        let registrations: [FramePrefetch.Registration]

        init(_ prefetch: FramePrefetch) throws {
            detector = try FramePrefetchTests.detector()
            registrations = [
                prefetch.register(validator: validator, thread: WorkerThread(name: "test-validate")),
                prefetch.register(detector: detector, thread: WorkerThread(name: "test-detect")),
            ]
        }
    }

    @Test func theStagesTakeTheSameVerdictAndDetectionsTheyWouldHaveMade() async throws {
        let prefetch = FramePrefetch(capacity: 8)
        #expect(!prefetch.isActive)
        let stages = try Stages(prefetch)
        let (validator, detector) = (stages.validator, stages.detector)
        #expect(prefetch.isActive)

        for (index, photo) in ["bus.jpg", "zidane.jpg"].enumerated() {
            let data = try Self.photo(photo)
            let (name, hash) = ("porch-\(1_763_800_000 + index).jpg", "hash-of-\(photo)")
            #expect(prefetch.offer(name: name, hash: hash, data: data))
            #expect(!prefetch.offer(name: name, hash: hash, data: data), "a frame is prefetched once")

            let verdict = try #require(await prefetch.verdict(name: name, hash: hash, validator: validator))
            #expect(verdict.value == validator.judge(name: name, data: data))
            #expect(verdict.started <= verdict.finished)
            // Another name with the same bytes was not judged: its time or device could make another verdict.
            #expect(await prefetch.verdict(name: "yard-1763800000.jpg", hash: hash, validator: validator) == nil)

            let prefetched = try #require(await prefetch.detection(name: name, hash: hash, detector: detector))
            let direct = try detector.detect(data)
            #expect(prefetched.value.detections == direct.detections)
            #expect(prefetched.value.width == direct.width && prefetched.value.height == direct.height)
            #expect(prefetch.held == 0, "a frame's place is freed once detect took it")
            #expect(await prefetch.detection(name: name, hash: hash, detector: detector) == nil, "taken once")
        }
        _ = stages
    }

    @Test func aRejectedFrameIsLeftToTheStageAndNothingIsDetected() async throws {
        let prefetch = FramePrefetch(capacity: 8)
        let stages = try Stages(prefetch)
        let (validator, detector) = (stages.validator, stages.detector)
        let grey = SyntheticImages.greyJPEGAsRGB
        #expect(validator.judge(name: "porch-1763800000.jpg", data: grey).rejection != nil)
        #expect(prefetch.offer(name: "porch-1763800000.jpg", hash: "grey", data: grey))
        #expect(await prefetch.verdict(name: "porch-1763800000.jpg", hash: "grey", validator: validator) == nil)
        #expect(await prefetch.detection(name: "porch-1763800000.jpg", hash: "grey", detector: detector) == nil)
        #expect(prefetch.held == 0)
        _ = stages
    }

    @Test func otherSettingsTakeNothingAndMixedStagesOfferNothing() async throws {
        let prefetch = FramePrefetch(capacity: 8)
        let stages = try Stages(prefetch)
        let (validator, detector) = (stages.validator, stages.detector)
        let data = try Self.photo("bus.jpg")
        #expect(prefetch.offer(name: "porch-1763800000.jpg", hash: "bus", data: data))
        var stricter = validator.rules
        stricter.minWidth = 4_000
        #expect(
            await prefetch.verdict(
                name: "porch-1763800000.jpg", hash: "bus", validator: ImageValidator(rules: stricter))
                == nil)
        let replaying = ImageValidator(clock: { Date() })
        #expect(await prefetch.verdict(name: "porch-1763800000.jpg", hash: "bus", validator: replaying) == nil)
        #expect(await prefetch.verdict(name: "porch-1763800000.jpg", hash: "bus", validator: validator) != nil)
        var other = Detector.Configuration.defaultModel()
        other.scoreThreshold = 0.9
        let otherDetector = try Detector(other)
        #expect(await prefetch.detection(name: "porch-1763800000.jpg", hash: "bus", detector: otherDetector) == nil)
        #expect(await prefetch.detection(name: "porch-1763800000.jpg", hash: "bus", detector: detector) != nil)

        // Two detect stages with different models here: which one a frame meets is not known, so none is guessed.
        var otherStage: FramePrefetch.Registration? = prefetch.register(
            detector: otherDetector, thread: WorkerThread(name: "test-other"))
        #expect(!prefetch.isActive)
        #expect(!prefetch.offer(name: "porch-1763800001.jpg", hash: "bus", data: data))
        _ = otherStage
        otherStage = nil
        #expect(prefetch.isActive, "the other stage is gone")
        // A validator on a clock of its own (a test's, a replay's) judges the future check by that clock.
        let replay = prefetch.register(
            validator: ImageValidator(clock: { Date(timeIntervalSince1970: 0) }), thread: WorkerThread(name: "t"))
        #expect(!prefetch.isActive)
        _ = replay
        _ = stages
    }

    @Test func aFrameOfferedBeforeItsCommitIsJudgedAtOnceAndDetectedOnlyOnceCommitted() async throws {
        let prefetch = FramePrefetch(capacity: 8)
        let stages = try Stages(prefetch)
        let (validator, detector) = (stages.validator, stages.detector)
        let data = try Self.photo("bus.jpg")
        let name = "porch-1763800000.jpg"
        #expect(prefetch.offer(name: name, hash: "bus", data: data, awaitingCommit: true))
        let verdict = try #require(await prefetch.verdict(name: name, hash: "bus", validator: validator))
        #expect(verdict.value == validator.judge(name: name, data: data))
        // Judged, and the detection waits: the detect thread has nothing to do until the commit.
        try await Self.eventually { prefetch.awaitingCommit == 1 }
        #expect(prefetch.awaitingCommit == 1)
        prefetch.committed(name: name, hash: "bus")
        #expect(prefetch.awaitingCommit == 0)
        let detected = try #require(await prefetch.detection(name: name, hash: "bus", detector: detector))
        #expect(detected.value.detections == (try detector.detect(data)).detections)
        #expect(prefetch.held == 0)
        _ = stages
    }

    @Test func aFrameWhoseUploadFailedIsWithdrawnAndNeverDetected() async throws {
        let prefetch = FramePrefetch(capacity: 8)
        let stages = try Stages(prefetch)
        let (validator, detector) = (stages.validator, stages.detector)
        let data = try Self.photo("zidane.jpg")
        let (judged, early) = ("porch-1763800000.jpg", "porch-1763800001.jpg")
        // Withdrawn once judged: the waiting detection is dropped with its place.
        #expect(prefetch.offer(name: judged, hash: "z", data: data, awaitingCommit: true))
        try await Self.eventually { prefetch.awaitingCommit == 1 }
        prefetch.withdraw(name: judged, hash: "z")
        #expect(prefetch.held == 0 && prefetch.awaitingCommit == 0)
        // Withdrawn while it may still be judged: a judge that ends later finds no place and detects nothing.
        #expect(prefetch.offer(name: early, hash: "z", data: data, awaitingCommit: true))
        prefetch.withdraw(name: early, hash: "z")
        #expect(prefetch.held == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(prefetch.held == 0 && prefetch.awaitingCommit == 0)
        // Neither left a result: the stages judge and detect such a frame themselves, if it is ever committed.
        #expect(await prefetch.verdict(name: judged, hash: "z", validator: validator) == nil)
        #expect(await prefetch.detection(name: early, hash: "z", detector: detector) == nil)
        // A commit that did succeed is not undone by a failed upload of the same frame.
        #expect(prefetch.offer(name: judged, hash: "z", data: data, awaitingCommit: true))
        prefetch.committed(name: judged, hash: "z")
        prefetch.withdraw(name: judged, hash: "z")
        #expect(await prefetch.detection(name: judged, hash: "z", detector: detector) != nil)
        _ = stages
    }

    @Test func unclaimedResultsAreDroppedOldestFirstAndTheHoldIsBounded() async throws {
        let prefetch = FramePrefetch(capacity: 2)
        let stages = try Stages(prefetch)
        let (validator, detector) = (stages.validator, stages.detector)
        let data = try Self.photo("zidane.jpg")
        let names = (0..<3).map { "porch-\(1_763_800_000 + $0).jpg" }
        #expect(prefetch.offer(name: names[0], hash: "z", data: data))
        #expect(prefetch.offer(name: names[1], hash: "z", data: data))
        // Both held; the first finished one makes room for the third.
        _ = try #require(await prefetch.verdict(name: names[1], hash: "z", validator: validator))
        try await Self.eventually { prefetch.offer(name: names[2], hash: "z", data: data) }
        #expect(prefetch.held == 2)
        #expect(await prefetch.detection(name: names[0], hash: "z", detector: detector) == nil, "dropped")
        #expect(await prefetch.detection(name: names[1], hash: "z", detector: detector) != nil)
        #expect(await prefetch.detection(name: names[2], hash: "z", detector: detector) != nil)
        #expect(prefetch.held == 0)
        _ = stages
    }
}
