/// How a process ended, as the kernel reported it.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)

    /// `on-failure` counts a non-zero exit or death by a signal as a failure.
    public var isFailure: Bool {
        switch self {
        case .exited(let code): code != 0
        case .signaled: true
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "was killed by signal \(signal)\(Self.signalName(signal).map { " (\($0))" } ?? "")"
        }
    }

    /// Linux's signal numbers by name (without the `SIG` prefix).
    static let signalNumbers: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10,
        "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
        "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
        "IO": 29, "PWR": 30, "SYS": 31,
    ]
    private static let signalNames: [Int32: String] = Dictionary(uniqueKeysWithValues: signalNumbers.map { ($1, "SIG" + $0) })

    public static func signalName(_ signal: Int32) -> String? {
        signalNames[signal]
    }

    /// `TERM` or `SIGTERM` to 15; nil for a name Linux does not have.
    public static func signalNumber(named name: String) -> Int32? {
        let upper = name.uppercased()
        return signalNumbers[upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper]
    }
}
