import ArgumentParser
import Foundation
import Logging
import VigilAccess
import VigilAlerts
import VigilPipeline
import VigilStages
import VigilStore
import VigilVision

@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Vigil: versioned data pipelines that turn camera images into trustworthy alerts.",
        discussion: """
            Data lives in a folder (--home, $VIGIL_HOME, or ./.vigil). Addresses read like Pachyderm's: \
            repo@branch-or-commit:/path, e.g. images@master:/cam1-1700000000.jpg or images@master^2.
            """,
        subcommands: [
            InitCommand.self, RepoCommand.self, PutCommand.self, ListCommand.self, CatCommand.self, LogCommand.self,
            DiffCommand.self, InspectCommand.self, BranchCommand.self, CopyCommand.self, CheckCommand.self,
            CollectCommand.self, RmCommand.self, EraseCommand.self, RetentionCommand.self, HoldCommand.self,
            PipelineCommand.self, JobCommand.self,
            DatumCommand.self,
            LogsCommand.self,
            EngineCommand.self, WorkerCommand.self, StageCommand.self, DetectCommand.self, StatsCommand.self,
            NotifyCommand.self,
            AlertsCommand.self, DatasetCommand.self, ModelsCommand.self,
            AlertSinkCommand.self, ServeCommand.self, TokenCommand.self, AuditCommand.self,
        ])

    /// Runs the command; Vigil's own errors are printed as one line, without a stack, and exit 1.
    static func main() async {
        // Whatever Vigil or its libraries create (databases, blobs, spooled uploads, charts, logs) is for its
        // own user only: the data holds images from people's homes and their contacts' details.
        umask(0o077)
        FrameMemory.mapLargeBlocks()
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as any UserFacingError {
            Terminal.standardError("vigil: error: \(error.description)")
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}

/// Errors that say what was wrong and how to fix it, with a code: printed as they are, one line.
protocol UserFacingError: Error, CustomStringConvertible {}

extension VigilError: UserFacingError {}
extension PipelineError: UserFacingError {}
extension DetectorError: UserFacingError {}
extension RuleError: UserFacingError {}
extension AlertError: UserFacingError {}
extension AccessError: UserFacingError {}
