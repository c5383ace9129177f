"""Copies one member out of a wheel (a zip file) without installing it: wheel_member.py WHEEL MEMBER DEST."""
import shutil
import sys
import zipfile

wheel_path, member, destination = sys.argv[1:4]
with zipfile.ZipFile(wheel_path) as wheel, wheel.open(member) as source, open(destination, "wb") as target:
    shutil.copyfileobj(source, target)
