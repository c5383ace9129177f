import Foundation

/// What the notifier reads, how hard it tries, and how it shows the image.
public struct NotifierConfiguration: Sendable {
    public enum ImageMode: String, Sendable, CaseIterable {
        /// The image's address in the threats repo, and a URL when `imageURL` is set.
        case link
        /// The image bytes in the payload (base64) as well.
        case inline
    }

    /// The repo and branch whose threat records become alerts.
    public var repo = "threats"
    public var branch = "master"
    public var retry = RetryPolicy()
    /// Deliveries in flight at once.
    public var concurrency = 8
    public var breakerThreshold = 5
    public var breakerCoolDown: Double = 10
    /// How long a notifier holds a delivery it started before another may send it (under the same
    /// idempotency key): longer than an attempt takes, and as long as a notifier killed mid-delivery delays it.
    public var claimLease: Double = 30
    public var image = ImageMode.link
    /// A link to the image for the receiver, with `{repo}`, `{commit}` and `{path}` filled in, e.g.
    /// `https://vigil.example/v1/repos/{repo}/commits/{commit}/files{path}`.
    public var imageURL: String?

    public init() {}

    public func validate() throws {
        try retry.validate()
        guard concurrency >= 1, breakerThreshold >= 1, breakerCoolDown > 0 else {
            throw AlertError(
                .badConfiguration,
                "concurrency and the breaker's threshold must be at least 1 and its cool-down above 0 s")
        }
        guard claimLease >= 1 else {
            throw AlertError(
                .badConfiguration, "the claim lease must be at least 1 s (longer than a delivery attempt takes)",
                value: "\(claimLease)")
        }
        if let imageURL,
            URL(string: imageURL.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")) == nil
        {
            throw AlertError(.badConfiguration, "the image URL template is not a URL", value: imageURL)
        }
    }
}
