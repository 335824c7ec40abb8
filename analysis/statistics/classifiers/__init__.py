"""Identity classifiers: nearest centroid, k-NN, linear SVM, logistic regression.

``classifiers`` (the per-cell analysis), ``knn`` (the shared k-NN graph), ``centroid`` (the
nearest-centroid classifier), ``folds`` (stratified folds identical to scikit-learn's),
``pseudo_labels`` (cluster labels to train on) and ``confusion`` (the most confused pairs).
"""
