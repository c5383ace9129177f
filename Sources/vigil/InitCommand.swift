import ArgumentParser
import VigilBackends
import VigilStore

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the data folder (blobs and metadata). Safe to run again.",
        discussion: """
            With --store s3://bucket/prefix (and --s3-endpoint for a service other than AWS), blobs go to S3 and \
            the settings are recorded in <home>/config.json, so later commands need no flags. Credentials are \
            never recorded: they come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials.
            """)

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await store.withBackends(create: true) { backends in
            let opened = backends.store
            if let s3 = opened.blobs as? S3BlobStore {
                let settings = s3.client.configuration
                print(
                    "Vigil data folder ready at \(store.homeURL.path), blobs in \(settings.location) "
                        + "at \(settings.endpoint.absoluteString)")
            } else {
                print("Vigil data folder ready at \(store.homeURL.path)")
            }
        }
    }
}
