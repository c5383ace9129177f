/// This Vigil's version: what a worker reports in `vigil worker list`, beside the schema the database holds.
public enum VigilVersion {
    public static let current = "0.2.0"
}
