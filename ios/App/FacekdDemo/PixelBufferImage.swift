#if canImport(CoreVideo) && canImport(UIKit)
import CoreVideo
import Facekd

extension CVPixelBuffer {
    /// Runs `body` with a facekd view of this buffer's planes (locked read-only meanwhile): BGRA
    /// as `.bgra8`, 420f/420v bi-planar as `.nv12` (Y plane + interleaved CbCr plane, each with
    /// its own bytes-per-row), read in place without conversion.
    func withPixelImage<R>(_ body: (PixelImage) throws -> R) throws -> R {
        CVPixelBufferLockBaseAddress(self, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(self, .readOnly) }
        let width = CVPixelBufferGetWidth(self), height = CVPixelBufferGetHeight(self)
        switch CVPixelBufferGetPixelFormatType(self) {
        case kCVPixelFormatType_32BGRA:
            let stride = CVPixelBufferGetBytesPerRow(self)
            guard let base = CVPixelBufferGetBaseAddress(self) else {
                throw FacekdError(.invalidArgument, "pixel buffer has no base address")
            }
            let image = try PixelImage(packed: UnsafeRawBufferPointer(start: base, count: stride * height),
                                       width: width, height: height, stride: stride, format: .bgra8)
            return try body(image)
        case kCVPixelFormatType_420YpCbCr8BiPlanarFullRange, kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange:
            // facekd converts with full-range BT.601; request 420f (full range) from the camera.
            guard let y = CVPixelBufferGetBaseAddressOfPlane(self, 0),
                  let uv = CVPixelBufferGetBaseAddressOfPlane(self, 1) else {
                throw FacekdError(.invalidArgument, "pixel buffer planes have no base address")
            }
            let yStride = CVPixelBufferGetBytesPerRowOfPlane(self, 0)
            let uvStride = CVPixelBufferGetBytesPerRowOfPlane(self, 1)
            let uvRows = CVPixelBufferGetHeightOfPlane(self, 1)
            let image = try PixelImage(luma: UnsafeRawBufferPointer(start: y, count: yStride * height),
                                       lumaStride: yStride,
                                       chroma: UnsafeRawBufferPointer(start: uv, count: uvStride * uvRows),
                                       chromaStride: uvStride, width: width, height: height, format: .nv12)
            return try body(image)
        default:
            throw FacekdError(.invalidArgument,
                              "unsupported pixel format \(CVPixelBufferGetPixelFormatType(self)); use BGRA or 420f")
        }
    }
}
#endif
