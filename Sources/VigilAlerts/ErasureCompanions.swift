import Foundation
import VigilStages
import VigilStore

/// The files that describe frames an erasure takes, found before it walks history, so they go with the frames:
/// the verdicts people gave on the alerts those frames raised (who judged, their label), and in every dataset
/// made from the frames (`DatasetExport`) each frame's label file and the versions of the dataset's manifest
/// and annotations that name it. A dataset that lost a frame this way is exported again to be whole.
public struct ErasureCompanions: Sendable {
    public let store: VersionedStore
    public let alerts: any AlertStore
    public let verdictsRepo: String
    public let datasetsRepo: String

    public init(store: VersionedStore, alerts: any AlertStore, verdictsRepo: String, datasetsRepo: String) {
        self.store = store
        self.alerts = alerts
        self.verdictsRepo = verdictsRepo
        self.datasetsRepo = datasetsRepo
    }

    /// The verdicts (every version of each) on the alerts raised by frames `selection` takes, of `devices`.
    public func addVerdicts(to selection: inout ErasureSelection, devices: Set<String>) async throws {
        for device in devices.sorted() {
            for alert in try await alerts.alerts(AlertFilter(device: device, limit: .max)) {
                guard let image = try? Address.parse(alert.record.image.address),
                    selection.matches(image.repo, image.path)
                else { continue }
                selection.take(verdictsRepo, VerdictBook.path(customer: alert.customer, alert: alert.id))
            }
        }
    }

    /// In every version of every dataset: the label file of each frame `selection` takes, and the manifest and
    /// annotations of each version that holds one.
    public func addDatasetFiles(to selection: inout ErasureSelection) async throws {
        guard try await store.metadata.repo(named: datasetsRepo) != nil else { return }
        var seen: Set<String> = []
        for commit in try await store.metadata.allCommits(in: datasetsRepo) {
            for dataset in try await store.trees.entries(ofDirectory: commit.tree.hash) where dataset.kind == .directory
            {
                // A dataset folder unchanged since a commit already looked at holds the same files.
                guard seen.insert("\(dataset.name)\u{0}\(dataset.hash.hex)").inserted else { continue }
                let folder = "/" + dataset.name
                guard let images = try await lookup(folder + "/images", in: commit) else { continue }
                var taken = false
                for image in try await store.trees.entries(ofDirectory: images.hash) where image.kind == .file {
                    guard selection.matches(datasetsRepo, "\(folder)/images/\(image.name)") else { continue }
                    taken = true
                    let label = "\(folder)/labels/\(DatasetExport.stem(image.name)).txt"
                    selection.take(datasetsRepo, label)
                }
                guard taken else { continue }
                for index in DatasetExport.indexFiles {
                    if let file = try await lookup("\(folder)/\(index)", in: commit) {
                        selection.take(datasetsRepo, "\(folder)/\(index)", hash: file.hash)
                    }
                }
            }
        }
    }

    private func lookup(_ path: String, in commit: CommitInfo) async throws -> TreeEntry? {
        try await store.trees.lookup(path, in: commit.tree)
    }
}
