extension Duration {
    /// The duration in seconds, for what takes a `Double` (a dispatch timer's deadline, a message).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
