import Foundation
import ServerTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension ProcessTests {
    @Suite("vigil serve --otel-endpoint: one trace per frame, upload to delivery", .serialized)
    struct TracingCLITests {
        static let rules = """
            customers:
              - id: acme
                name: Acme Storage Ltd
                contacts: [{name: Ana Lee, email: ana@acme.example}]
                devices: [frontdoor]
                dangerous: {person: 0.5}
            """
        static let specs = [
            "name: validate\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {stage: validate}\n",
            "name: detect\ninput: {pfs: {repo: validate, glob: /valid/*}}\ntransform: {stage: detect}\n",
            """
            name: threats
            input:
              cross:
                - pfs: {repo: detect, glob: /*/*}
                - pfs: {repo: rules, glob: /, reprocess: false}
            transform: {stage: threats}

            """,
        ]

        @Test func aFrameCarriesOneTraceFromItsUploadThroughEveryStageToItsDelivery() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            try await Self.traceOneFrame(vigil: VigilProcess(home: root.appendingPathComponent("home")), root: root)
        }

        /// On a shared database the API process queues the datums and `vigil worker` processes run them: the
        /// trace goes with each queued datum to its worker and back into the commits.
        @Test(.enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)))
        func aQueuedDatumCarriesTheTraceToTheWorkerProcessThatRunsIt() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, _) = try await VigilProcess.onNewDatabase(of: try await PostgresServer.shared(), root: root)
            try await Self.traceOneFrame(vigil: vigil, root: root, workers: ["validate", "detect", "threats"])
        }

        /// Sets up the three pipelines, a camera's token and an alert sink; starts a collector, `vigil serve`
        /// (with `workers`: `--no-workers`, and a `vigil worker` process per pipeline named) all tracing to it;
        /// uploads one photo with a camera's `traceparent` and checks the trace that arrives.
        static func traceOneFrame(vigil: VigilProcess, root: URL, workers: [String] = []) async throws {
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            try await vigil.run(["repo", "create", "rules"])
            let rules = root.appendingPathComponent("rules")
            try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
            try Data(Self.rules.utf8).write(to: rules.appendingPathComponent("customers.yaml"))
            #expect(try await vigil.run(["put", "rules", rules.path]).status == 0)
            for (index, spec) in Self.specs.enumerated() {
                let file = root.appendingPathComponent("spec\(index).yaml")
                try Data(spec.utf8).write(to: file)
                let created = try await vigil.run(["pipeline", "create", file.path])
                #expect(created.status == 0, "\(created.error)")
            }
            let token = try await vigil.run(["token", "create", "--role", "device", "--device", "frontdoor"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let secret = root.appendingPathComponent("secret")
            try Data("a-shared-secret-for-the-trace-test\n".utf8).write(to: secret)
            let sink = try AlertsCLITests.startSink(vigil, root: root, secret: secret)
            defer { sink.stop() }

            let receiver = OTLPReceiver()
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (ports, port) = AsyncStream.makeStream(of: Int.self)
                group.addTask { try await receiver.run { port.yield($0) } }
                var iterator = ports.makeAsyncIterator()
                let collector = try #require(await iterator.next())
                defer { group.cancelAll() }
                try await Self.traceOneFrame(
                    vigil: vigil, root: root, token: token, sink: sink, secret: secret, receiver: receiver,
                    collector: collector, workers: workers)
            }
        }

        /// Every step's span, from the upload to the delivery.
        static let expectedSpans = [
            "/v1/images/{name}", "spool", "commit", "queued validate", "datum validate", "judge",
            "output commit validate", "queued detect", "datum detect", "decode", "inference", "record",
            "output commit detect", "queued threats", "datum threats", "output commit threats", "queued alert",
            "deliver",
        ]

        static func traceOneFrame(
            vigil: VigilProcess, root: URL, token: String, sink: AlertsCLITests.Sink, secret: URL,
            receiver: OTLPReceiver, collector: Int, workers: [String]
        ) async throws {
            var traced = vigil
            // JSON, which the test's receiver reads; spans sent every 100 ms rather than every 5 s.
            traced.environment["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/json"
            traced.environment["OTEL_BSP_SCHEDULE_DELAY"] = "100"
            let endpoint = "http://127.0.0.1:\(collector)/v1/traces"
            let workerProcesses = try workers.map { pipeline in
                try traced.start(
                    ["worker", "--pipeline", pipeline, "--otel-endpoint", endpoint],
                    errorLog: root.appendingPathComponent("worker-\(pipeline).log"))
            }
            defer {
                for worker in workerProcesses where worker.isRunning {
                    worker.terminate()
                    worker.waitUntilExit()
                }
            }
            let log = root.appendingPathComponent("serve.log")
            let serve = try traced.start(
                [
                    "serve", "--port", "0", "--otel-endpoint", endpoint, "--alert-url", sink.url,
                    "--alert-secret-file", secret.path,
                ] + (workers.isEmpty ? [] : ["--no-workers"]), errorLog: log)
            defer {
                if serve.isRunning {
                    serve.terminate()
                    serve.waitUntilExit()
                }
            }
            var port: Int?
            for _ in 0..<300 where port == nil {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                port = text.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:([0-9]+)\//).flatMap { Int($0.1) }
                if port == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let started = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            let server = try #require(port, "vigil serve did not start: \(started)")
            // The detector is loaded before the frame comes, as it would be long before a camera's next frame.
            if workers.isEmpty {
                for _ in 0..<300 {
                    let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                    if text.contains("pipeline=detect") && text.contains("pipeline workers ready") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }

            // The camera starts the trace: its traceparent is continued, not replaced.
            let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
            let cameraSpan = "00f067aa0ba902b7"
            let photo = VisionCLITests.samples.appendingPathComponent("bus.jpg")
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server)/v1/images/frontdoor-1763856000.jpg")!)
            request.httpMethod = "PUT"
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            request.setValue("00-\(traceID)-\(cameraSpan)-01", forHTTPHeaderField: "traceparent")
            let (_, response) = try await URLSession.shared.upload(for: request, from: try Data(contentsOf: photo))
            #expect((response as? HTTPURLResponse)?.statusCode == 201)

            var spans: [OTLPReceiver.Span] = []
            for _ in 0..<600 {
                spans = receiver.spans.filter { $0.traceID == traceID }
                // Each process exports on its own schedule: a worker's spans may come after the delivery's.
                if Set(spans.map(\.name)).isSuperset(of: Self.expectedSpans) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(receiver.errors.isEmpty, "\(receiver.errors)")
            let names = Set(spans.map(\.name))
            for expected in Self.expectedSpans {
                #expect(
                    names.contains(expected), "no '\(expected)' span in the frame's trace; it has \(names.sorted())")
            }
            // One tree: every span hangs from another span of the trace, or from the camera's.
            let ids = Set(spans.map(\.spanID)).union([cameraSpan])
            for span in spans {
                #expect(span.parentSpanID.map(ids.contains) == true, "'\(span.name)' is not joined to the trace")
                #expect(span.end >= span.start, "'\(span.name)' ends before it starts")
            }
            // The stages follow each other: each datum starts after the one before it ended.
            func first(_ name: String) -> OTLPReceiver.Span? { spans.first { $0.name == name } }
            // In the engine that runs the datums itself, each job's start (its reads, its record, its plan) lies
            // within the datum's wait for it, and ends as the datum starts.
            if workers.isEmpty {
                for pipeline in ["validate", "detect", "threats"] {
                    let start = first("job start \(pipeline)")
                    #expect(start != nil, "no 'job start \(pipeline)' span in the frame's trace")
                    if let start, let queued = first("queued \(pipeline)"), let datum = first("datum \(pipeline)") {
                        #expect(queued.start <= start.start && start.end <= datum.start, "job start \(pipeline)")
                    }
                }
            }
            // Each commit on the frame's way shows its two waits for the disk, one after the other, within the step
            // that waits for that commit.
            for (repo, step) in [("images", "commit")]
                + ["validate", "detect", "threats"].map({ ($0, "output commit \($0)") })
            {
                let (barrier, head) = (first("barrier \(repo)"), first("head \(repo)"))
                #expect(barrier != nil && head != nil, "no 'barrier \(repo)' and 'head \(repo)' spans")
                if let barrier, let head, let outer = first(step) {
                    #expect(barrier.end <= head.start, "\(repo): the head was written before the blobs were durable")
                    #expect(outer.start <= barrier.start && head.end <= outer.end, "\(repo): outside '\(step)'")
                }
            }
            if let validate = first("datum validate"), let detect = first("datum detect"),
                let threats = first("datum threats"), let deliver = first("deliver")
            {
                #expect(validate.end <= detect.start && detect.end <= threats.start && threats.end <= deliver.start)
            }
            // With validate and detect in the API's process, the frame was judged and detected while its upload
            // was committed (FramePrefetch), so the detector's work (its decode, then inference) began before
            // detect's datum did; with workers, within it.
            if let decode = first("decode"), let detect = first("datum detect") {
                if workers.isEmpty {
                    #expect(decode.start < detect.start, "the detector did not begin as the upload arrived")
                } else {
                    #expect(decode.start >= detect.start)
                }
            }
            #expect(try sink.keys().count == 1)
            // Each datum ran in the process meant to run it: the API process's own workers, or `vigil worker`.
            for pipeline in ["validate", "detect", "threats"] {
                let service = spans.first { $0.name == "datum \(pipeline)" }?.service
                #expect(service == (workers.contains(pipeline) ? "vigil-worker" : "vigil-serve"), "datum \(pipeline)")
            }

            // Log lines written inside a span carry its trace id.
            serve.terminate()
            try await waitForExit(of: serve)
            let logged = try String(contentsOf: log, encoding: .utf8)
            let delivered = logged.split(separator: "\n").filter { $0.contains("alert delivered") }
            #expect(delivered.count == 1)
            #expect(delivered.allSatisfy { $0.contains(traceID) }, "\(delivered)")
        }
    }
}
