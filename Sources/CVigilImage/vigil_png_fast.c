#include "vigil_image.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/*
 * The camera PNG (8-bit grey or RGB, not interlaced, no transparency, sRGB or no gamma) decoded in two passes
 * over whole buffers: libdeflate inflates every IDAT at once (zlib's streaming inflate was about half of
 * libpng's time on a 1920x1080 frame), then the rows are unfiltered in place. Anything else, and anything not
 * intact (a CRC, the zlib stream, a filter byte), is left to libpng, which decodes it or says what is wrong:
 * so the pixels and the errors are libpng's, only sooner.
 */

static uint32_t vigil_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int vigil_chunk_is(const uint8_t *type, const char *name) { return memcmp(type, name, 4) == 0; }

/*
 * Each filter undone from `in` (a row as stored, after its filter byte) into `out`, against `previous` (the row
 * above, already undone; zeros above the first). `out` may be `in`: every byte is read before it is written.
 */
static void vigil_unfilter_sub(const uint8_t *in, uint8_t *out, size_t length, size_t bpp) {
    for (size_t i = 0; i < bpp; i++) out[i] = in[i];
    for (size_t i = bpp; i < length; i++) out[i] = (uint8_t)(in[i] + out[i - bpp]);
}

static void vigil_unfilter_up(const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t length) {
    for (size_t i = 0; i < length; i++) out[i] = (uint8_t)(in[i] + previous[i]);
}

static void vigil_unfilter_average(
    const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t length, size_t bpp) {
    for (size_t i = 0; i < bpp; i++) out[i] = (uint8_t)(in[i] + (previous[i] >> 1));
    for (size_t i = bpp; i < length; i++) out[i] = (uint8_t)(in[i] + ((out[i - bpp] + previous[i]) >> 1));
}

/* The Paeth predictor without branches: which neighbour is taken depends on the pixels, so branches would be
 * mispredicted about as often as not. */
static inline int vigil_paeth_predictor(int left, int up, int corner) {
    int to_left = abs(up - corner), to_up = abs(left - corner), to_corner = abs(left + up - 2 * corner);
    int up_or_corner = to_up <= to_corner ? up : corner;
    return (to_left <= to_up && to_left <= to_corner) ? left : up_or_corner;
}

/* Paeth on grey: one chain, one byte after another. */
static void vigil_unfilter_paeth(const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t length) {
    int left = 0, corner = 0;
    for (size_t i = 0; i < length; i++) {
        int up = previous[i];
        left = (uint8_t)(in[i] + vigil_paeth_predictor(left, up, corner));
        out[i] = (uint8_t)left;
        corner = up;
    }
}

/* Paeth on 3-byte pixels from `start` on, one byte at a time: the three channels are three independent chains,
 * interleaved so that they run at once. `left` and `corner` hold the pixels before `start` (zeros at the row's
 * start). */
static void vigil_unfilter_paeth_rgb_scalar(
    const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t start, size_t length, const int left_in[3],
    const int corner_in[3]) {
    int left_r = left_in[0], left_g = left_in[1], left_b = left_in[2];
    int corner_r = corner_in[0], corner_g = corner_in[1], corner_b = corner_in[2];
    for (size_t i = start; i + 3 <= length; i += 3) {
        int up_r = previous[i], up_g = previous[i + 1], up_b = previous[i + 2];
        left_r = (uint8_t)(in[i] + vigil_paeth_predictor(left_r, up_r, corner_r));
        left_g = (uint8_t)(in[i + 1] + vigil_paeth_predictor(left_g, up_g, corner_g));
        left_b = (uint8_t)(in[i + 2] + vigil_paeth_predictor(left_b, up_b, corner_b));
        out[i] = (uint8_t)left_r;
        out[i + 1] = (uint8_t)left_g;
        out[i + 2] = (uint8_t)left_b;
        corner_r = up_r;
        corner_g = up_g;
        corner_b = up_b;
    }
}

#if defined(__SSE2__)
static inline __m128i vigil_abs16(__m128i x) { return _mm_max_epi16(x, _mm_sub_epi16(_mm_setzero_si128(), x)); }

/* Where `mask` is set `when_set`, elsewhere `otherwise`. */
static inline __m128i vigil_select(__m128i mask, __m128i when_set, __m128i otherwise) {
    return _mm_or_si128(_mm_and_si128(mask, when_set), _mm_andnot_si128(mask, otherwise));
}

/* Paeth on 3-byte pixels, a whole pixel per step in 16-bit lanes: each step depends on the one before (its left
 * pixel), and one pixel's three channels computed side by side make that chain a third as long as the byte-wise
 * one. Loads take 4 bytes, so the last pixel is left to the byte-wise loop. Every byte of `in` is read before
 * the same byte of `out` is written, so `out` may be `in`. */
static void vigil_unfilter_paeth_rgb(const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t length) {
    const __m128i zero = _mm_setzero_si128();
    __m128i left = zero, corner = zero;
    size_t i = 0;
    for (; i + 4 <= length; i += 3) {
        uint32_t up_bytes, in_bytes;
        memcpy(&up_bytes, previous + i, 4);
        memcpy(&in_bytes, in + i, 4);
        __m128i up = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)up_bytes), zero);
        __m128i filtered = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)in_bytes), zero);
        /* The three distances of the predictor a + b - c, with a left, b up and c the corner. */
        __m128i up_minus_corner = _mm_sub_epi16(up, corner);
        __m128i left_minus_corner = _mm_sub_epi16(left, corner);
        __m128i to_left = vigil_abs16(up_minus_corner);
        __m128i to_up = vigil_abs16(left_minus_corner);
        __m128i to_corner = vigil_abs16(_mm_add_epi16(left_minus_corner, up_minus_corner));
        __m128i not_left = _mm_cmpgt_epi16(to_left, _mm_min_epi16(to_up, to_corner));
        __m128i up_or_corner = vigil_select(_mm_cmpgt_epi16(to_up, to_corner), corner, up);
        __m128i predicted = vigil_select(not_left, up_or_corner, left);
        /* Bytes added modulo 256: each lane's high byte stays 0. */
        left = _mm_add_epi8(filtered, predicted);
        corner = up;
        uint32_t pixel = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(left, left));
        memcpy(out + i, &pixel, 3);
    }
    const int left_rest[3] = {_mm_extract_epi16(left, 0), _mm_extract_epi16(left, 1), _mm_extract_epi16(left, 2)};
    const int corner_rest[3] = {
        _mm_extract_epi16(corner, 0), _mm_extract_epi16(corner, 1), _mm_extract_epi16(corner, 2)};
    vigil_unfilter_paeth_rgb_scalar(in, out, previous, i, length, left_rest, corner_rest);
}
#else
static void vigil_unfilter_paeth_rgb(const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t length) {
    static const int zeros[3] = {0, 0, 0};
    vigil_unfilter_paeth_rgb_scalar(in, out, previous, 0, length, zeros, zeros);
}
#endif

/* Undoes one row's filter. Returns -1 for a filter type PNG lacks. */
static int vigil_unfilter(
    uint8_t filter, const uint8_t *in, uint8_t *out, const uint8_t *previous, size_t length, size_t bpp) {
    switch (filter) {
    case 0:
        if (out != in) memcpy(out, in, length);
        return 0;
    case 1: vigil_unfilter_sub(in, out, length, bpp); return 0;
    case 2: vigil_unfilter_up(in, out, previous, length); return 0;
    case 3: vigil_unfilter_average(in, out, previous, length, bpp); return 0;
    case 4:
        if (bpp == 3) {
            vigil_unfilter_paeth_rgb(in, out, previous, length);
        } else {
            vigil_unfilter_paeth(in, out, previous, length);
        }
        return 0;
    default: return -1;
    }
}

/* What the chunk walk found: the header's facts and where the image data lies. */
typedef struct {
    uint32_t width, height, channels;
    /* The IDAT chunks, which PNG requires to be consecutive: the first's offset, their count and total size. */
    size_t first_idat, idat_chunks, idat_size;
} vigil_png_layout;

/* Walks the chunks; 1 when the file is one the fast path takes, with every chunk's CRC right. */
static int vigil_png_fast_layout(const uint8_t *data, size_t size, vigil_png_layout *layout) {
    static const uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (size < 8 || memcmp(data, signature, 8) != 0) return 0;
    memset(layout, 0, sizeof(*layout));
    int idat_run_over = 0;
    for (size_t offset = 8; offset + 12 <= size;) {
        uint32_t length = vigil_be32(data + offset);
        if (length > size - offset - 12) return 0;
        const uint8_t *type = data + offset + 4, *body = data + offset + 8;
        if (libdeflate_crc32(0, type, 4 + (size_t)length) != vigil_be32(body + length)) return 0;
        if (offset == 8) {
            if (!vigil_chunk_is(type, "IHDR") || length != 13) return 0;
            layout->width = vigil_be32(body);
            layout->height = vigil_be32(body + 4);
            /* 8 bits per sample; compression, filter method and interlace all 0. */
            if (layout->width == 0 || layout->height == 0 || body[8] != 8 || body[10] || body[11] || body[12]) return 0;
            if (body[9] == 0) layout->channels = 1;
            else if (body[9] == 2) layout->channels = 3;
            else return 0;
        } else if (vigil_chunk_is(type, "IDAT")) {
            if (idat_run_over) return 0;
            if (layout->idat_chunks++ == 0) layout->first_idat = offset;
            layout->idat_size += length;
        } else if (vigil_chunk_is(type, "IEND")) {
            return layout->idat_chunks > 0;
        } else if (vigil_chunk_is(type, "tRNS")) {
            return 0;
        } else if (vigil_chunk_is(type, "gAMA")) {
            /* libpng converts any other gamma to sRGB's. */
            if (length != 4 || vigil_be32(body) != 45455) return 0;
        } else if (!(type[0] & 0x20) && !vigil_chunk_is(type, "PLTE")) {
            return 0; /* a critical chunk this path does not know */
        }
        if (layout->idat_chunks > 0 && !vigil_chunk_is(type, "IDAT")) idat_run_over = 1;
        offset += 12 + (size_t)length;
    }
    return 0; /* no IEND: truncated */
}

size_t vigil_png_fast_scratch_size(uint32_t width, uint32_t height, uint32_t channels) {
    if (channels != 1 && channels != 3) return 0;
    size_t stride = (size_t)width * channels;
    /* The inflated rows, each with its filter byte, and a row of zeros for the one above the first. */
    return (size_t)height * (stride + 1) + stride;
}

int vigil_png_decode_fast(const uint8_t *data, size_t size, uint8_t *output, size_t output_size, vigil_image_info *info) {
    return vigil_png_decode_fast_scratch(data, size, output, output_size, NULL, 0, info);
}

int vigil_png_decode_fast_scratch(
    const uint8_t *data, size_t size, uint8_t *output, size_t output_size, uint8_t *scratch, size_t scratch_size,
    vigil_image_info *info) {
    vigil_png_layout layout;
    if (!vigil_png_fast_layout(data, size, &layout)) return 0;
    size_t stride = (size_t)layout.width * layout.channels;
    if (output_size / 3 / layout.width < layout.height) return 0;
    size_t raw_size = (size_t)layout.height * (stride + 1);
    /* The zlib stream of one IDAT is used where it lies; several are joined first. */
    uint8_t *joined = NULL;
    const uint8_t *compressed = data + layout.first_idat + 8;
    if (layout.idat_chunks > 1) {
        joined = malloc(layout.idat_size);
        if (!joined) return 0;
        size_t offset = layout.first_idat, filled = 0;
        for (size_t chunk = 0; chunk < layout.idat_chunks; chunk++) {
            uint32_t length = vigil_be32(data + offset);
            memcpy(joined + filled, data + offset + 8, length);
            filled += length;
            offset += 12 + (size_t)length;
        }
        compressed = joined;
    }
    /* One more row of zeros: the row "above" the first. The caller's scratch when it is large enough. */
    int owned = scratch == NULL || scratch_size < raw_size + stride;
    uint8_t *raw = owned ? malloc(raw_size + stride) : scratch;
    struct libdeflate_decompressor *inflater = raw ? libdeflate_alloc_decompressor() : NULL;
    size_t consumed = 0, produced = 0;
    enum libdeflate_result result =
        inflater ? libdeflate_zlib_decompress_ex(
                       inflater, compressed, layout.idat_size, raw, raw_size, &consumed, &produced)
                 : LIBDEFLATE_BAD_DATA;
    libdeflate_free_decompressor(inflater);
    free(joined);
    if (result != LIBDEFLATE_SUCCESS || produced != raw_size || consumed != layout.idat_size) {
        if (owned) free(raw);
        return 0;
    }
    uint8_t *zeros = raw + raw_size;
    memset(zeros, 0, stride);
    /* RGB rows are undone straight into the output; grey ones in place, then spread over three channels. */
    const uint8_t *previous = zeros;
    for (uint32_t y = 0; y < layout.height; y++) {
        const uint8_t *line = raw + (size_t)y * (stride + 1);
        uint8_t *row = layout.channels == 3 ? output + (size_t)y * stride : (uint8_t *)line + 1;
        if (vigil_unfilter(line[0], line + 1, row, previous, stride, layout.channels) != 0) {
            if (owned) free(raw);
            return 0;
        }
        previous = row;
    }
    if (layout.channels == 1) {
        for (uint32_t y = 0; y < layout.height; y++) {
            const uint8_t *row = raw + (size_t)y * (stride + 1) + 1;
            uint8_t *out = output + (size_t)y * layout.width * 3;
            for (uint32_t x = 0; x < layout.width; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = row[x];
        }
    }
    if (owned) free(raw);
    memset(info, 0, sizeof(*info));
    info->width = layout.width;
    info->height = layout.height;
    info->components = layout.channels;
    return 1;
}
