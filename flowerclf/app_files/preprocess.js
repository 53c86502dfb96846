// flowerclf's preprocessing (flowerclf.predict.preprocess_numpy) in plain JavaScript, so that the app hands MediaPipe
// an image already at the model's size, prepared exactly as flowerclf-predict prepares it:
//   1. the centre square (integer offsets: top = floor((h - side) / 2), left = floor((w - side) / 2));
//   2. pixel / 255 as float32;
//   3. when side > 2 * size: Pillow's BILINEAR resize (an antialiased triangle filter: Resample.c's
//      precompute_coeffs and its 32-bit float passes, horizontal then vertical) to 2 * size;
//   4. plain bilinear interpolation with half-pixel centres (flowerclf.predict.resize_axis, like tf.image.resize
//      without antialiasing), width then height, to size x size; clipped to [0, 1].
// MediaPipe then gets round(value * 255) as RGBA pixels and divides by 255 (the model's metadata: mean 0, std 255).
// No DOM here: the same module runs in the browser and in node (test_preprocess.mjs).

export function centreSquare(width, height) {
  const side = Math.min(width, height);
  return {left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2), side};
}

// Pillow's precompute_coeffs for the bilinear ("triangle", support 1) filter
function pilCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2), kk = new Float64Array(outSize * ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5); if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5); if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1.0 ? 1.0 - t : 0.0;
      kk[xx * ksize + x] = w; ww += w;
    }
    if (ww !== 0.0) for (let x = 0; x < xmax; x++) kk[xx * ksize + x] /= ww;
    bounds[xx * 2] = xmin; bounds[xx * 2 + 1] = xmax;
  }
  return {bounds, kk, ksize};
}

// Pillow's resize of a float32 ('F' mode) plane of w x h to outW x outH: horizontal pass, then vertical
function pilResizePlane(plane, w, h, outW, outH) {
  let src = plane, sw = w;
  if (outW !== w) {
    const {bounds, kk, ksize} = pilCoefficients(w, outW);
    const out = new Float32Array(outW * h);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], k = xx * ksize;
        let s = 0.0;
        for (let x = 0; x < xmax; x++) s += src[row + x + xmin] * kk[k + x];
        out[y * outW + xx] = s;
      }
    }
    src = out; sw = outW;
  }
  if (outH !== h) {
    const {bounds, kk, ksize} = pilCoefficients(h, outH);
    const out = new Float32Array(sw * outH);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1], k = yy * ksize;
      for (let x = 0; x < sw; x++) {
        let s = 0.0;
        for (let y = 0; y < ymax; y++) s += src[(y + ymin) * sw + x] * kk[k + y];
        out[yy * sw + x] = s;
      }
    }
    src = out;
  }
  return src;
}

// flowerclf.predict.bilinear_taps: output i = (1 - frac) * x[lo] + frac * x[hi]
function bilinearTaps(nIn, nOut) {
  const lo = new Int32Array(nOut), hi = new Int32Array(nOut), frac = new Float32Array(nOut);
  for (let i = 0; i < nOut; i++) {
    const x = Math.min(Math.max((i + 0.5) * (nIn / nOut) - 0.5, 0), nIn - 1);
    lo[i] = Math.floor(x); hi[i] = Math.min(lo[i] + 1, nIn - 1); frac[i] = x - lo[i];
  }
  return {lo, hi, frac};
}

// resize_axis along the width, then along the height, in float32 like NumPy does it
function bilinearPlane(plane, w, h, size) {
  const f = Math.fround;
  const tx = bilinearTaps(w, size), ty = bilinearTaps(h, size);
  const mid = new Float32Array(size * h);
  for (let y = 0; y < h; y++)
    for (let i = 0; i < size; i++) {
      const a = plane[y * w + tx.lo[i]], b = plane[y * w + tx.hi[i]];
      mid[y * size + i] = f(a + f(f(b - a) * tx.frac[i]));
    }
  const out = new Float32Array(size * size);
  for (let j = 0; j < size; j++)
    for (let i = 0; i < size; i++) {
      const a = mid[ty.lo[j] * size + i], b = mid[ty.hi[j] * size + i];
      out[j * size + i] = Math.min(Math.max(f(a + f(f(b - a) * ty.frac[j])), 0), 1);
    }
  return out;
}

// rgba: the centre square's RGBA pixels (side x side), as canvas getImageData gives them.
// Returns three float32 planes (R, G, B) of size x size with values in [0, 1].
export function processSquare(rgba, side, size) {
  const n = side * side, planes = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  for (let p = 0, q = 0; p < n; p++, q += 4) {
    const a = rgba[q + 3];
    for (let c = 0; c < 3; c++) {
      const v = a === 255 ? rgba[q + c] : Math.round((rgba[q + c] * a + 255 * (255 - a)) / 255);   // on white
      planes[c][p] = Math.fround(v / 255);
    }
  }
  let cur = side;
  if (side > 2 * size) {
    for (let c = 0; c < 3; c++) planes[c] = pilResizePlane(planes[c], side, side, 2 * size, 2 * size);
    cur = 2 * size;
  }
  return planes.map(pl => bilinearPlane(pl, cur, cur, size));
}

// The planes as RGBA bytes for an ImageData: round(value * 255), opaque
export function toRGBA(planes, size) {
  const out = new Uint8ClampedArray(size * size * 4);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = Math.round(planes[c][p] * 255);
    out[p * 4 + 3] = 255;
  }
  return out;
}

// flowerclf-predict reads JPEG photos with Pillow's draft mode (read_image(path, draft_size=4 * size)): libjpeg
// decodes them at 1/2, 1/4 or 1/8 scale, keeping both sides >= 4 * size. A browser always decodes at full size, so
// the app reproduces that reduction with a k x k box average (libjpeg's 1/8 scaling is exactly the block average;
// 1/2 and 1/4 are close to it), on the reduced grid Pillow would use: ceil(width / k) x ceil(height / k).
export function draftScale(width, height, draftSize) {
  const s = Math.min(Math.floor(width / draftSize), Math.floor(height / draftSize));
  return s >= 8 ? 8 : s >= 4 ? 4 : s >= 2 ? 2 : 1;
}

// Average k x k blocks of an RGBA region (rw x rh, starting on a block boundary) into side x side RGBA pixels;
// blocks cut by the region's right or bottom edge (the image's edge) average the pixels they have
export function boxReduce(rgba, rw, rh, k, side) {
  const out = new Uint8ClampedArray(side * side * 4);
  for (let j = 0; j < side; j++) {
    const y0 = j * k, y1 = Math.min(y0 + k, rh);
    for (let i = 0; i < side; i++) {
      const x0 = i * k, x1 = Math.min(x0 + k, rw);
      let r = 0, g = 0, b = 0, a = 0, n = 0;
      for (let y = y0; y < y1; y++)
        for (let x = x0, q = (y * rw + x0) * 4; x < x1; x++, q += 4) { r += rgba[q]; g += rgba[q + 1]; b += rgba[q + 2]; a += rgba[q + 3]; n++; }
      const o = (j * side + i) * 4;
      if (n) { out[o] = Math.round(r / n); out[o + 1] = Math.round(g / n); out[o + 2] = Math.round(b / n); out[o + 3] = Math.round(a / n); }
    }
  }
  return out;
}
