import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// An element of an S3 XML answer: name, text and children. S3's answers are small and shallow
/// (a list page is at most 1,000 entries), so a tree is simpler than a streaming parser and costs little.
struct S3XMLNode: Sendable {
    var name: String
    var text = ""
    var children: [S3XMLNode] = []

    func child(_ name: String) -> S3XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [S3XMLNode] { children.filter { $0.name == name } }
    func value(_ name: String) -> String? { child(name)?.text }

    /// The document's root element, or nil if the bytes are not XML.
    static func parse(_ data: Data) -> S3XMLNode? {
        let builder = S3XMLTreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }

    /// Escapes text for an XML body we send (part ETags hold quotes).
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// Used by one parse on one thread, then dropped.
private final class S3XMLTreeBuilder: NSObject, XMLParserDelegate {
    var stack: [S3XMLNode] = []
    var root: S3XMLNode?

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        stack.append(S3XMLNode(name: elementName))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if !stack.isEmpty { stack[stack.count - 1].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        guard let node = stack.popLast() else { return }
        if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
    }
}
