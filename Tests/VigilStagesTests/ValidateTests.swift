import Foundation
import Testing
import VigilPipeline
import VigilStages
import VigilStore
import VigilVision

@Suite("Validation")
struct ValidateTests {
    static let now = Date(timeIntervalSince1970: 1_763_800_000)
    let validator = ImageValidator(clock: { ValidateTests.now })

    @Test(
        arguments: [
            ("colour JPEG", "cam1-1763790000.jpg", SyntheticImages.colourJPEG, nil),
            ("colour PNG", "cam1-1763790000.png", SyntheticImages.colourPNG, nil),
            ("PNG with alpha: alpha is dropped", "cam1-1763790000.png", SyntheticImages.alphaPNG, nil),
            ("greyscale JPEG, one channel", "cam1-1763790000.jpg", SyntheticImages.greyJPEGOneChannel, "greyscale"),
            ("greyscale JPEG stored as RGB", "cam1-1763790000.jpg", SyntheticImages.greyJPEGAsRGB, "greyscale"),
            ("tinted night infrared frame", "cam1-1763790000.jpg", SyntheticImages.infraredJPEG, "greyscale"),
            ("tiny", "cam1-1763790000.jpg", SyntheticImages.tinyJPEG, "too-small"),
            ("truncated JPEG", "cam1-1763790000.jpg", SyntheticImages.truncatedJPEG, "corrupt-image"),
            ("corrupt JPEG", "cam1-1763790000.jpg", SyntheticImages.corruptJPEG, "corrupt-image"),
            ("zero bytes", "cam1-1763790000.jpg", Data(), "empty-file"),
            ("huge JPEG header", "cam1-1763790000.jpg", SyntheticImages.hugeHeaderJPEG, "too-many-pixels"),
            ("huge PNG header", "cam1-1763790000.png", SyntheticImages.hugeHeaderPNG, "too-many-pixels"),
            ("not an image", "cam1-1763790000.jpg", Data("GIF89a not really".utf8), "unknown-format"),
            ("PNG bytes named .jpg", "cam1-1763790000.jpg", SyntheticImages.colourPNG, "format-mismatch"),
            ("an hour in the future", "cam1-1763803600.jpg", SyntheticImages.colourJPEG, "future-timestamp"),
            ("bad name", "../cam1-1763790000.jpg", SyntheticImages.colourJPEG, "path-traversal"),
            ("bad device", "front-door-1763790000.jpg", SyntheticImages.colourJPEG, "bad-device-id"),
        ] as [(String, String, Data, String?)])
    func everyCaseIsClassified(label: String, name: String, data: Data, expected: String?) {
        let verdict = validator.judge(name: name, data: data)
        #expect(verdict.rejection?.code == expected, "\(label): \(verdict.rejection?.message ?? "valid")")
        if let rejection = verdict.rejection { #expect(!rejection.message.isEmpty) }
    }

    @Test func measurementsAndThresholdsAreReported() throws {
        let colour = validator.judge(name: "cam1-1763790000.jpg", data: SyntheticImages.colourJPEG)
        #expect(colour.measured.width == 640 && colour.measured.height == 480)
        #expect((colour.measured.chromaSpread ?? 0) > 20)
        let infrared = validator.judge(name: "cam1-1763790000.jpg", data: SyntheticImages.infraredJPEG)
        // The tint is strong (mean chroma) but uniform (spread): that is what makes it grey.
        #expect((infrared.measured.meanChroma ?? 0) > 10)
        #expect((infrared.measured.chromaSpread ?? 99) < 4)
        #expect(infrared.rejection?.rule == "minChromaSpread")
        #expect(infrared.rejection?.threshold == "4.0")
        let huge = validator.judge(name: "cam1-1763790000.jpg", data: SyntheticImages.hugeHeaderJPEG)
        #expect(huge.measured.width == 60_000)

        var strict = ValidationRules()
        strict.maxBytes = 1_000
        let small = ImageValidator(rules: strict, clock: { ValidateTests.now })
        #expect(
            small.judge(name: "cam1-1763790000.jpg", data: SyntheticImages.colourJPEG).rejection?.code
                == "too-large-bytes")
    }

    /// A PNG is decoded whole but measured on the grid a JPEG of the same frame is measured on (1/8 of each
    /// side), where the thresholds were set: the same picture gets the same colour figures in either format.
    @Test func aPNGIsMeasuredLikeTheSameFrameAsAJPEG() throws {
        for photo in ["bus.jpg", "zidane.jpg"] {
            let (image, _) = try ImageDecoder.decode(try DetectorTests.photo(photo))
            let png = try ImageEncoder.png(Array(image.pixels), width: image.width, height: image.height)
            let jpeg = try ImageEncoder.jpeg(Array(image.pixels), width: image.width, height: image.height, quality: 95)
            let asPNG = validator.judge(name: "cam1-1763790000.png", data: png).measured
            let asJPEG = validator.judge(name: "cam1-1763790000.jpg", data: jpeg).measured
            let spreads = (try #require(asPNG.chromaSpread), try #require(asJPEG.chromaSpread))
            let tints = (try #require(asPNG.meanChroma), try #require(asJPEG.meanChroma))
            #expect(abs(spreads.0 - spreads.1) < 0.5, "\(photo): chroma spread \(spreads)")
            #expect(abs(tints.0 - tints.1) < 0.5, "\(photo): mean chroma \(tints)")
        }
    }

    @Test func aThousandRandomMutationsOfAValidJPEGAreEachClassified() {
        let original = [UInt8](SyntheticImages.colourJPEG)
        var generator = SplitMix(seed: 42)
        var outcomes: [String: Int] = [:]
        let known: Set<String> = [
            "corrupt-image", "greyscale", "too-small", "too-many-pixels", "unknown-format", "empty-file",
        ]
        for round in 0..<1_000 {
            var bytes = original
            switch round % 4 {
            case 0:  // flip a few random bytes
                for _ in 0..<(1 + Int(generator.next() % 8)) {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
            case 1:  // cut anywhere
                bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count))))
            case 2:  // overwrite a run near the headers
                let start = Int(generator.next() % 600)
                for offset in 0..<Int(1 + generator.next() % 40) where start + offset < bytes.count {
                    bytes[start + offset] = UInt8(truncatingIfNeeded: generator.next())
                }
            default:  // splice a random chunk elsewhere
                let from = Int(generator.next() % UInt64(bytes.count - 100))
                let to = Int(generator.next() % UInt64(bytes.count - 100))
                bytes.replaceSubrange(to..<(to + 100), with: bytes[from..<(from + 100)])
            }
            let verdict = validator.judge(name: "cam1-1763790000.jpg", data: Data(bytes))
            let outcome = verdict.rejection?.code ?? "valid"
            #expect(outcome == "valid" || known.contains(outcome), "round \(round): \(outcome)")
            outcomes[outcome, default: 0] += 1
        }
        // Most mutations break the image, and they are told apart from a good one.
        #expect((outcomes["corrupt-image"] ?? 0) > 300, "\(outcomes)")
    }

    @Test func theStageSortsUploadsIntoValidAndInvalidWithReasons() async throws {
        let store = VersionedStore(
            blobs: InMemoryBlobStore(), metadata: try SQLiteMetadataStore(), logger: .init(label: "test"))
        let environment = EngineEnvironment(
            store: store, jobs: try SQLiteJobStore(), stages: .vigil,
            scratch: FileManager.default.temporaryDirectory, logger: .init(label: "test"))
        try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/cam1-1700000000.jpg", data: SyntheticImages.colourJPEG)
        try await writer.put("/cam2-1700000001.jpg", data: SyntheticImages.greyJPEGOneChannel)
        try await writer.put("/cam2-1700000002.JPG", data: SyntheticImages.colourJPEG)
        try await writer.finish()
        let spec = "{name: validate, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: validate}}"
        try await PipelineManager(environment: environment).create(try PipelineSpecParser.parse(spec), source: spec)
        let job = try #require(try await PipelineEngine(environment: environment).runUntilIdle().first)
        #expect(job.counts.processed == 3 && job.counts.failed == 0)

        let valid = try await store.list(Address(repo: "validate", path: "/valid"))
        #expect(valid.map(\.name) == ["cam1-1700000000.jpg"])
        let input = try await store.list(Address(repo: "images", path: "/cam1-1700000000.jpg"))
        #expect(valid.first?.hash == input.first?.hash, "a valid image is the same blob, not a copy")
        let invalid = try await store.list(Address(repo: "validate", path: "/invalid")).map(\.name)
        #expect(
            invalid == [
                "cam2-1700000001.jpg", "cam2-1700000001.jpg.reason.json", "cam2-1700000002.JPG",
                "cam2-1700000002.JPG.reason.json",
            ])
        let reason =
            try JSONSerialization.jsonObject(
                with: try await store.read(Address(repo: "validate", path: "/invalid/cam2-1700000001.jpg.reason.json")))
            as? [String: Any]
        #expect(reason?["code"] as? String == "greyscale")
        #expect(reason?["device"] as? String == "cam2")
        #expect((reason?["measured"] as? [String: Any])?["components"] as? Int == 1)

        let badOption =
            "{name: strict, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: validate, options: {minWidht: 10}}}"
        try await PipelineManager(environment: environment).create(
            try PipelineSpecParser.parse(badOption), source: badOption)
        let jobs = try await PipelineEngine(environment: environment).runUntilIdle()
        #expect(jobs.count == 1, "a job that cannot start is not retried until something changes")
        #expect(jobs.first?.state == .failed)
        #expect(jobs.first?.error?.contains("no option `minWidht`") == true)
        #expect(try await PipelineEngine(environment: environment).runUntilIdle().isEmpty)
    }
}

/// A small deterministic generator, so a failing mutation can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
