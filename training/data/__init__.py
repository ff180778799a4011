"""Datasets in YOLO format: ``images/{train,val,test}``, ``labels/...``, ``data.yaml``."""
