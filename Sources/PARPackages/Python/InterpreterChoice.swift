/// A Python interpreter found on the machine.
public struct PythonInterpreter: Sendable, Equatable, Hashable {
    /// The real program (`sys.executable`), not a shim or link to it.
    public var path: String
    public var major: Int
    public var minor: Int
    public var micro: Int

    public init(path: String, major: Int, minor: Int, micro: Int) {
        self.path = path
        self.major = major
        self.minor = minor
        self.micro = micro
    }

    public var version: String { "\(major).\(minor).\(micro)" }
}

/// Which interpreter runs a package whose manifest says `runtime: python3.11`: pure, so
/// every case is tested without a machine's interpreters.
public enum InterpreterChoice {
    /// The version a `runtime:` asks for: `python3.11` → (3, 11); `python3`/`python` → (3, nil).
    /// Nil when the runtime is not a Python one.
    public static func requested(by runtime: String?) -> (major: Int, minor: Int?)? {
        let text = runtime ?? "python3"
        guard text.hasPrefix("python") else { return nil }
        let version = text.dropFirst("python".count)
        if version.isEmpty { return (3, nil) }
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard let major = Int(parts[0]), parts.count <= 2 else { return nil }
        if parts.count == 1 { return (major, nil) }
        guard let minor = Int(parts[1]) else { return nil }
        return (major, minor)
    }

    /// The installed interpreter closest to what the runtime asks for: the same minor
    /// version, else the nearest minor of the same major (the newer on a tie), else nil.
    /// With no minor asked for, the newest of the major. Earlier entries win among equals
    /// (the order of PATH).
    public static func choose(runtime: String?, installed: [PythonInterpreter]) -> PythonInterpreter? {
        guard let wanted = requested(by: runtime) else { return nil }
        let candidates = installed.filter { $0.major == wanted.major }
        guard let minor = wanted.minor else {
            return candidates.max { $0.minor < $1.minor }.flatMap { best in candidates.first { $0.minor == best.minor } }
        }
        func distance(_ interpreter: PythonInterpreter) -> (Int, Int) {
            (abs(interpreter.minor - minor), interpreter.minor > minor ? 0 : 1)
        }
        return candidates.enumerated().min { lhs, rhs in
            let (a, b) = (distance(lhs.element), distance(rhs.element))
            return a != b ? a < b : lhs.offset < rhs.offset
        }?.element
    }

    /// Why no interpreter fits, for the 422 a spawn answers.
    public static func noneFits(runtime: String?, installed: [PythonInterpreter]) -> String {
        let found = installed.isEmpty ? "none found on PATH" : installed.map { "\($0.version) (\($0.path))" }.joined(separator: ", ")
        return "no installed Python interpreter fits runtime \((runtime ?? "python3").debugDescription) of this package (installed: \(found)); install one, or start par serve with --python PATH"
    }
}
