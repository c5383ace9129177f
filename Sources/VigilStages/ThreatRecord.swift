import Foundation
import VigilVision

/// What the `threats` stage writes for an image that matched a customer's rules, at
/// `/<deviceId>/<image name>.json`, beside the image itself (`/<deviceId>/<image name>`, the same blob). It
/// carries everything the notifier needs: who to tell, in which order, what was seen, and where the image is.
public struct ThreatRecord: Sendable, Hashable, Codable {
    public struct RulesVersion: Sendable, Hashable, Codable {
        /// The `rules` commit that judged it, and the tree hash of the rule files.
        public var commit: String
        public var tree: String

        public init(commit: String, tree: String) {
            self.commit = commit
            self.tree = tree
        }
    }

    public var customer: String
    public var customerName: String
    public var device: String
    public var time: Int64
    public var isoTime: String
    /// The image's time in the customer's time zone.
    public var localTime: String
    /// The dangerous labels seen at or above their minimum.
    public var labels: [RuleMatch.Label]
    public var image: DetectionRecord.Image
    /// Where the copy of the image is in the threats repo.
    public var imagePath: String
    /// The detection record judged: `repo@commit:/path`.
    public var detection: String
    public var rules: RulesVersion
    public var model: Detector.ModelIdentity
    /// Who to tell, first first, and how long each has to acknowledge before the next is told.
    public var contacts: [Contact]
    public var acknowledgeWithin: Double

    public func encoded() throws -> Data { try DetectionRecord.encoder.encode(self) }
}
