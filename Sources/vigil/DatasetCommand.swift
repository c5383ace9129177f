import ArgumentParser
import Foundation
import VigilAccess
import VigilAlerts
import VigilServer
import VigilStages
import VigilStore

/// `vigil dataset export`: the judged alerts as a labelled dataset for retraining.
struct DatasetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset", abstract: "Labelled datasets for retraining, made from the alerts people judged.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the judged alerts' frames and boxes as a COCO or YOLO dataset, and commit it.",
            discussion: """
                Each judged alert's frame goes in (the validated copy the detector saw). A confirmed alert carries \
                the detector's boxes for the labels that raised it; a false alarm carries none (a hard negative). \
                manifest.json names each frame's alert, verdict, judge, image and detection record. The same \
                files are committed to the datasets repo under /NAME, with the image, detection and verdict \
                commits they came from as the commit's provenance (`vigil log datasets`).
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "coco (annotations.json) or yolo (labels/*.txt, classes.txt).") var format: String
        @Argument(help: "A new (or empty) folder to write the dataset into.") var folder: String
        @Option(help: "The dataset's name in the datasets repo (default: the folder's name).") var name: String?
        @Option(help: "Only this device's alerts (repeatable).") var device: [String] = []
        @Option(help: "Only alerts whose detector saw this label (repeatable).") var label: [String] = []
        @Option(help: "Only confirmed or only false-alarm verdicts.") var verdict: String?
        @Option(help: "Only frames taken at or after this time (unix seconds or ISO 8601).") var after: String?
        @Option(help: "Only frames taken before this time.") var before: String?

        func validate() throws {
            guard DatasetExport.Format(rawValue: format) != nil else {
                throw ValidationError("--format is coco or yolo")
            }
            if let verdict, AlertVerdict.Kind(rawValue: verdict) == nil {
                throw ValidationError("--verdict is confirmed or false-alarm")
            }
            for id in device where !ImageName.isValidDevice(id) {
                throw ValidationError("'\(id)' is not a device id: 1-64 letters, digits, '_' or '.' (docs/CONTRACT.md)")
            }
        }

        func run() async throws {
            var selection = DatasetExport.Selection()
            selection.devices = Set(device)
            selection.labels = Set(label)
            selection.verdict = verdict.flatMap(AlertVerdict.Kind.init(rawValue:))
            selection.after = try after.map { try FrameSelection.seconds($0, field: "--after") }
            selection.before = try before.map { try FrameSelection.seconds($0, field: "--before") }
            let url = URL(fileURLWithPath: folder)
            let name = self.name ?? url.lastPathComponent
            let format = DatasetExport.Format(rawValue: format) ?? .coco
            try await store.withBackends { backends in
                let configuration = ServerConfiguration()
                let export = DatasetExport(
                    store: backends.store, alerts: try backends.alerts(),
                    verdicts: VerdictBook(store: backends.store, repo: configuration.verdictsRepo),
                    repo: configuration.datasetsRepo)
                let requester = Terminal.requester("vigil dataset export")
                let drawing = Terminal.standardErrorIsTerminal
                let report = try await export.export(
                    name, format: format, selection: selection, to: url, by: requester
                ) { done, total in
                    if drawing { FileHandle.standardError.write(Data("\rjudged alerts read: \(done)/\(total) ".utf8)) }
                }
                if drawing { FileHandle.standardError.write(Data("\n".utf8)) }
                try await backends.access().record(
                    AuditEntry(
                        time: Date(), tokenID: "-", principal: requester, role: "cli",
                        action: "DATASET export \(format.rawValue)",
                        target: "\(configuration.datasetsRepo)@\(report.commit)",
                        status: 200, detail: "\(report.images) images into \(url.path)"))
                if output.json { return try Terminal.json(report) }
                print(
                    "dataset \(report.name) (\(report.format)): \(report.images) images, \(report.boxes) boxes, "
                        + "\(report.negatives) false alarms without boxes; in \(report.folder) and "
                        + "\(configuration.datasetsRepo)@\(report.commit):/\(report.name)")
                for line in report.skipped { print("left out \(line)") }
            }
        }
    }
}
