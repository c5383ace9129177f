import Foundation

/// The OpenAPI document (docs/openapi.yaml is a link to the same file), served at `/openapi.yaml`.
enum OpenAPIDocument {
    static let yaml: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return "openapi: 3.0.3\ninfo: {title: Vigil API, version: unavailable}\npaths: {}\n" }
        return text
    }()
}
