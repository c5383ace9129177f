import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import VigilPipeline
import VigilStore

struct EngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run the pipelines: every new commit on an input starts the jobs downstream at once.",
        discussion: """
            Runs until stopped. SIGINT or SIGTERM stop it gracefully: running jobs stop at a datum boundary and \
            resume, without redoing finished datums, when an engine starts again (as do the jobs of an engine \
            that was killed). With --until-idle it processes what is pending and exits.
            """)

    @OptionGroup var store: StoreOptions
    @Flag(name: .long, help: "Process what is pending (upstream first), print the jobs, and exit.")
    var untilIdle = false

    func run() async throws {
        var environment = try await store.openEngine(progress: untilIdle)
        // A service says what it does (jobs started and finished) unless told to be quieter.
        if !untilIdle, !store.verbose { environment.logger.logLevel = .info }
        let engine = PipelineEngine(environment: environment, watching: store.homeURL)
        if untilIdle {
            JobPrinter.finish(
                try await engine.runUntilIdle(), json: false, emptyNote: "an engine running elsewhere has it")
            return
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: engine)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: environment.logger))
        Terminal.standardError("vigil engine: running pipelines in \(store.homeURL.path); Ctrl-C stops it")
        try await group.run()
    }
}
