#ifndef VIGIL_IMAGE_H
#define VIGIL_IMAGE_H

/*
 * Safe JPEG and PNG decoding for Vigil: every failure is a return code and a message, never a longjmp out
 * of Swift frames or an exit(). Dimensions can be read without decoding pixels, so a hostile header
 * (60,000 x 60,000) is refused before anything is allocated.
 */

#include <stddef.h>
#include <stdint.h>

#define VIGIL_IMAGE_MESSAGE_SIZE 200

typedef struct {
    uint32_t width;
    uint32_t height;
    /* 1 (grey), 3 (colour) for JPEG; for PNG 1-4 after libpng's simplified format (grey, grey+alpha, RGB, RGBA). */
    uint32_t components;
    /* Non-zero when libjpeg warned (e.g. a truncated file it padded): the data is not intact. */
    uint32_t warnings;
    char message[VIGIL_IMAGE_MESSAGE_SIZE];
} vigil_image_info;

/* Reads a JPEG's header. Returns 0 on success, -1 on error (message set). */
int vigil_jpeg_header(const uint8_t *data, size_t size, vigil_image_info *info);

/*
 * Decodes a JPEG to RGB8 at scale_num/8 of its size (libjpeg-turbo scales by any N/8, N = 1..16, in the
 * inverse DCT). `output` must hold out_width * out_height * 3 bytes, where the output size is what
 * vigil_jpeg_scaled_size reports. Greyscale JPEGs are expanded to RGB. Returns 0, or -1 with the message set.
 * Warnings are counted.
 */
int vigil_jpeg_decode(
    const uint8_t *data, size_t size, unsigned scale_num, uint8_t *output, size_t output_size,
    vigil_image_info *info);

/* The output size of a JPEG decoded at scale_num/8. Returns 0, or -1 with the message set. */
int vigil_jpeg_scaled_size(const uint8_t *data, size_t size, unsigned scale_num, vigil_image_info *info);

/*
 * Resizes RGB8 pixels (width x height) to out_width x out_height, bilinear with pixel centres aligned (the
 * aspect ratio is not kept), as three planes of floats R, G, B scaled to 0-1: a detector's NCHW input.
 * `output` holds 3 * out_width * out_height floats. Returns 0, or -1 if a size is 0 or memory runs out.
 */
int vigil_rgb_resize_planar(
    const uint8_t *pixels, uint32_t width, uint32_t height, float *output, uint32_t out_width, uint32_t out_height);

/*
 * Shrinks RGB8 pixels by `factor` in each direction: each output pixel the rounded mean of its factor x factor
 * block (smaller along the right and bottom edges). `output` holds ceil(width/factor) * ceil(height/factor) * 3
 * bytes. Returns 0, or -1 if a size is 0 or memory runs out.
 */
int vigil_rgb_box_reduce(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t factor, uint8_t *output);

/* Reads a PNG's header. Returns 0 on success, -1 on error (message set). */
int vigil_png_header(const uint8_t *data, size_t size, vigil_image_info *info);

/*
 * Decodes a PNG to RGB8 (alpha dropped, grey expanded). `output` holds width * height * 3 bytes. The common
 * camera PNG takes vigil_png_decode_fast, everything else libpng. Returns 0, or -1 with the message set.
 */
int vigil_png_decode(const uint8_t *data, size_t size, uint8_t *output, size_t output_size, vigil_image_info *info);

/*
 * vigil_png_decode with the fast path's inflated rows in `scratch` where it holds
 * vigil_png_fast_scratch_size bytes (its own memory otherwise): a caller that keeps memory between frames
 * spares the fresh pages' faults (a frame's size again).
 */
int vigil_png_decode_scratch(
    const uint8_t *data, size_t size, uint8_t *output, size_t output_size, uint8_t *scratch, size_t scratch_size,
    vigil_image_info *info);

/* The scratch the fast path needs for a PNG of this size and channels (0: not one the fast path takes). */
size_t vigil_png_fast_scratch_size(uint32_t width, uint32_t height, uint32_t channels);

/* The same with libpng alone. */
int vigil_png_decode_libpng(
    const uint8_t *data, size_t size, uint8_t *output, size_t output_size, vigil_image_info *info);

/*
 * The fast path: 8-bit grey or RGB, not interlaced, no tRNS, no gamma but sRGB's, every CRC and the zlib
 * stream intact. Returns 1 with the same pixels (and info) libpng gives, or 0, having set nothing, for any
 * other file: libpng then decodes it or reports what is wrong.
 */
int vigil_png_decode_fast(const uint8_t *data, size_t size, uint8_t *output, size_t output_size, vigil_image_info *info);

/* The fast path with its inflated rows in `scratch` (see vigil_png_decode_scratch). */
int vigil_png_decode_fast_scratch(
    const uint8_t *data, size_t size, uint8_t *output, size_t output_size, uint8_t *scratch, size_t scratch_size,
    vigil_image_info *info);

/*
 * Encodes RGB8 (components 3) or grey (components 1) pixels as a JPEG of the given quality (1-100). On success
 * returns 0 and sets *out / *out_size to a buffer the caller frees with vigil_image_free.
 */
int vigil_jpeg_encode(
    const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t components, int quality, uint8_t **out,
    size_t *out_size, vigil_image_info *info);

/* Encodes 8-bit pixels with 1-4 components (grey, grey+alpha, RGB, RGBA) as a PNG; free with vigil_image_free. */
int vigil_png_encode(
    const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t components, uint8_t **out, size_t *out_size,
    vigil_image_info *info);

void vigil_image_free(uint8_t *buffer);

#endif
