"""The paper's own numbers for Sec. 5 (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901v3), copied
as reference for the report. They are ImageNet 2012, Caltech-101, Caltech-256 and PASCAL VOC
2012 figures of the full-size ZFNet: not comparable in value with ours (a small net on small
data), only in shape (which change costs most, which curve lies above).

The values were entered without the paper's text at hand (no copy of it could be read in the
session that wrote them): check them against arXiv 1311.2901v3 before quoting them."""

SOURCE = ("Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014; "
          "entered without the paper's text at hand: check against arXiv 1311.2901 before "
          "quoting")

# Table 3: ImageNet 2012 classification error (%), train top-1, val top-1, val top-5.
TABLE3 = [
    ("Our replication of Krizhevsky et al. 2012, 1 convnet", 35.1, 40.5, 18.1),
    ("Removed layers 3,4", 41.8, 45.4, 22.1),
    ("Removed layer 7", 27.4, 40.0, 18.4),
    ("Removed layers 6,7", 27.4, 44.8, 22.4),
    ("Removed layers 3,4,6,7", 71.1, 71.3, 50.1),
    ("Adjust layers 6,7: 2048 units", 40.3, 41.7, 18.8),
    ("Adjust layers 6,7: 8192 units", 26.8, 40.0, 18.1),
    ("Our model (as per Fig. 3)", 33.1, 38.4, 16.6),
    ("Adjust layers 6,7: 2048 units", 38.2, 40.2, 17.6),
    ("Adjust layers 6,7: 8192 units", 22.0, 38.8, 17.0),
    ("Adjust layers 3,4,5: 512,1024,512 maps", 18.8, 37.5, 16.0),
    ("Adjust layers 6,7: 8192 units and layers 3,4,5: 512,1024,512 maps", 10.0, 38.3, 16.9),
]
TABLE3_NOTE = ("the removal rows (layers 3,4 / 7 / 6,7 / 3,4,6,7) are of the replicated "
               "Krizhevsky net, the rows after 'Our model' of ZFNet")

# Table 4: mean per-class accuracy (%) on Caltech-101 (15, 30 per class) and Caltech-256
# (15, 30, 45, 60 per class), 5 splits: the ImageNet-pretrained net with a retrained softmax
# against the same net trained from scratch.
TABLE4_CALTECH101 = [
    ("Non-pretrained convnet", {15: "22.8 ± 1.5", 30: "46.5 ± 1.7"}),
    ("ImageNet-pretrained convnet", {15: "83.8 ± 0.5", 30: "86.5 ± 0.5"}),
]
TABLE4_CALTECH256 = [
    ("Non-pretrained convnet", {15: "9.0 ± 1.4", 30: "22.5 ± 0.7", 45: "31.2 ± 0.5",
                                60: "38.8 ± 1.4"}),
    ("ImageNet-pretrained convnet", {15: "65.7 ± 0.2", 30: "70.6 ± 0.2", 45: "72.7 ± 0.4",
                                     60: "74.2 ± 0.3"}),
]
# Table 5 (PASCAL VOC 2012, retrained softmax, mean AP over the 20 classes): 79.0% for the
# pretrained ZFNet, 3.2 points below the leading result of the time (Yan et al., 82.2%).
TABLE5 = [("ImageNet-pretrained ZFNet, softmax retrained", "79.0"),
          ("Yan et al. (leading result then)", "82.2")]

# Table 7: linear classifiers on the features of one layer of the ImageNet-pretrained net:
# mean per-class accuracy (%) on Caltech-101 (30 per class) and Caltech-256 (60 per class).
TABLE7 = [
    ("SVM (1)", "44.8 ± 0.7", "24.6 ± 0.4"),
    ("SVM (2)", "66.2 ± 0.5", "39.6 ± 0.3"),
    ("SVM (3)", "72.3 ± 0.4", "46.0 ± 0.3"),
    ("SVM (4)", "76.6 ± 0.4", "51.3 ± 0.1"),
    ("SVM (5)", "86.2 ± 0.8", "65.6 ± 0.3"),
    ("SVM (7)", "85.5 ± 0.4", "71.7 ± 0.2"),
    ("Softmax (5)", "82.9 ± 0.4", "65.7 ± 0.5"),
    ("Softmax (7)", "85.4 ± 0.4", "72.6 ± 0.1"),
]
