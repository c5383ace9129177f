# The edge detection of Pachyderm's OpenCV example, with Pillow's edge filter standing in for OpenCV's Canny:
# every image under /pfs/images becomes a greyscale edge map of the same name, as PNG, under /pfs/out.
import os

from PIL import Image, ImageFilter

for folder, _, files in os.walk("/pfs/images"):
    for name in files:
        edges = Image.open(os.path.join(folder, name)).convert("L").filter(ImageFilter.FIND_EDGES)
        edges.save(os.path.join("/pfs/out", os.path.splitext(name)[0] + ".png"))
