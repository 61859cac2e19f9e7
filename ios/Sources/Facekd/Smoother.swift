import CFacekd

/// One-Euro smoother over streams of `valueCount` floats (K landmarks -> 2K values). The C handle
/// is created in `init` and destroyed in `deinit`. Not thread-safe: use one per tracked face.
public final class Smoother {
    public let valueCount: Int
    public let params: SmootherParams
    private let handle: OpaquePointer

    public init(valueCount: Int, params: SmootherParams = .default) throws {
        try require(valueCount > 0 && valueCount <= Int(Int32.max), "valueCount must be positive, got \(valueCount)")
        var p = params.c
        var h: OpaquePointer?
        try check(fk_smoother_create(Int32(valueCount), &p, &h))
        guard let created = h else { throw FacekdError(.internal, "fk_smoother_create returned no handle") }
        self.valueCount = valueCount
        self.params = params
        self.handle = created
    }

    deinit { fk_smoother_destroy(handle) }

    /// Filters one frame; `timestamp` (seconds) must increase strictly between calls.
    public func apply(_ values: [Float], timestamp: Double) throws -> [Float] {
        try require(values.count == valueCount, "expected \(valueCount) values, got \(values.count)")
        var out = [Float](repeating: 0, count: valueCount)
        try check(fk_smoother_apply(handle, values, timestamp, &out))
        return out
    }

    /// Filters one frame of landmarks (`valueCount` must be 2 * points.count).
    public func apply(_ points: [Point], timestamp: Double) throws -> [Point] {
        Kernels.points(from: try apply(Kernels.flatten(points), timestamp: timestamp))
    }

    /// Forgets the state: the next frame passes through unchanged.
    public func reset() throws { try check(fk_smoother_reset(handle)) }
}
