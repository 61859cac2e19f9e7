package org.facekd

/**
 * One-Euro smoother over streams of [valueCount] floats (K landmarks -> 2K values). Owns a C
 * handle: [close] it (or use `use {}`); calls after close throw. Not thread-safe.
 */
class Smoother(val valueCount: Int, val params: SmootherParams = SmootherParams.DEFAULT) : AutoCloseable {
    private var handle: Long

    init {
        requireArg(valueCount > 0) { "valueCount must be positive, got $valueCount" }
        handle = NativeBridge.smootherCreate(valueCount, params.minCutoff, params.beta, params.dCutoff)
    }

    /** Filters one frame; [timestamp] (seconds) must increase strictly between calls. */
    fun apply(values: FloatArray, timestamp: Double): FloatArray {
        requireArg(values.size == valueCount) { "expected $valueCount values, got ${values.size}" }
        val out = FloatArray(valueCount)
        NativeBridge.smootherApply(handle, valueCount, values, timestamp, out)
        return out
    }

    /** Forgets the state: the next frame passes through unchanged. */
    fun reset() = NativeBridge.smootherReset(handle)

    val isClosed: Boolean get() = handle == 0L

    override fun close() {
        val h = handle
        handle = 0L
        NativeBridge.smootherDestroy(h)
    }
}
