/// Why a package cannot be used. Each case maps to one HTTP status in the server.
public enum PackageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path is outside every allowed package directory (403).
    case outsideAllowedDirectories(path: String, allowed: [String])
    /// The file is missing or unreadable (400).
    case unreadable(path: String, reason: String)
    /// Not a zip, or an entry that would be unsafe to extract (400).
    case invalidArchive(reason: String)
    /// `agent.yaml` missing or malformed (400).
    case invalidManifest(reason: String)
    /// The package asks for something this supervisor cannot run (422).
    case unsupported(reason: String)

    public var description: String {
        switch self {
        case .outsideAllowedDirectories(let path, let allowed):
            "package_path \(path) is outside the allowed package directories: \(allowed.joined(separator: ", ")); put the package in one of them or start `par serve` with --package-dir"
        case .unreadable(let path, let reason): "cannot read package \(path): \(reason)"
        case .invalidArchive(let reason): "not a valid APKG archive: \(reason)"
        case .invalidManifest(let reason): "invalid agent.yaml: \(reason)"
        case .unsupported(let reason): reason
        }
    }
}
