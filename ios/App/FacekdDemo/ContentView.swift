#if canImport(SwiftUI) && canImport(UIKit) && canImport(AVFoundation)
import AVFoundation
import Facekd
import SwiftUI
import UIKit

struct ContentView: View {
    @StateObject private var camera = CameraController()

    var body: some View {
        ZStack(alignment: .topLeading) {
            CameraPreview(session: camera.session).ignoresSafeArea()
            LandmarkOverlay(frame: camera.frame).ignoresSafeArea()
            StatsView(frame: camera.frame, error: camera.error).padding()
        }
        .onAppear { camera.start() }
        .onDisappear { camera.stop() }
    }
}

/// The live camera (aspect fill, mirrored like the analysed frames).
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ uiView: PreviewView, context: Context) {}
}

/// Landmarks drawn over the preview: image pixel centres (x + 0.5, y + 0.5) mapped with the same
/// aspect-fill transform as the preview layer.
struct LandmarkOverlay: View {
    let frame: FrameResult?

    var body: some View {
        Canvas { context, size in
            guard let f = frame, f.imageWidth > 0, f.imageHeight > 0 else { return }
            let scale = max(size.width / CGFloat(f.imageWidth), size.height / CGFloat(f.imageHeight))
            let dx = (size.width - CGFloat(f.imageWidth) * scale) / 2
            let dy = (size.height - CGFloat(f.imageHeight) * scale) / 2
            let color: Color = f.tracking ? .green : .orange
            for p in f.points {
                let c = CGPoint(x: (CGFloat(p.x) + 0.5) * scale + dx, y: (CGFloat(p.y) + 0.5) * scale + dy)
                context.fill(Path(ellipseIn: CGRect(x: c.x - 2, y: c.y - 2, width: 4, height: 4)), with: .color(color))
            }
        }
        .allowsHitTesting(false)
    }
}

/// FPS and timings (milliseconds).
struct StatsView: View {
    let frame: FrameResult?
    let error: String?

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            if let e = error { Text(e).foregroundColor(.red) }
            if let f = frame {
                Text(String(format: "%.1f FPS  %@", f.fps, f.tracking ? "tracking" : "detecting"))
                Text(String(format: "detect %.1f  landmarks %.1f ms", f.detectSeconds * 1e3, f.landmarkSeconds * 1e3))
            } else {
                Text("looking for a face…")
            }
        }
        .font(.system(.caption, design: .monospaced))
        .foregroundColor(.white)
        .padding(6)
        .background(Color.black.opacity(0.5))
        .cornerRadius(6)
    }
}
#endif
