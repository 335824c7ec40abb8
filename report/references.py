"""Bibliography of the report: one source for the paper's BibTeX and the site's reference list.

Each entry is written once, as BibTeX. The site's short label takes its year from the entry,
so site and paper cannot disagree, and titles are emitted with every capitalised word in braces
(``{ArcFace}``), so that bibliography styles that lower-case titles keep "ArcFace" and "UMAP".
"""
from __future__ import annotations

import re

#: key -> (short label for the site without the year, BibTeX entry as written)
_ENTRIES: dict[str, tuple[str, str]] = {
    "deng2019arcface": ("Deng et al., ArcFace", """@inproceedings{deng2019arcface,
  title={ArcFace: Additive Angular Margin Loss for Deep Face Recognition},
  author={Deng, Jiankang and Guo, Jia and Xue, Niannan and Zafeiriou, Stefanos},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition},
  pages={4690--4699}, year={2019}}"""),
    "deng2020retinaface": ("Deng et al., RetinaFace", """@inproceedings{deng2020retinaface,
  title={RetinaFace: Single-Shot Multi-Level Face Localisation in the Wild},
  author={Deng, Jiankang and Guo, Jia and Ververas, Evangelos and Kotsia, Irene and Zafeiriou, Stefanos},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition},
  pages={5203--5212}, year={2020}}"""),
    "guo2021scrfd": ("Guo et al., SCRFD", """@inproceedings{guo2021scrfd,
  title={Sample and Computation Redistribution for Efficient Face Detection},
  author={Guo, Jia and Deng, Jiankang and Lattas, Alexandros and Zafeiriou, Stefanos},
  booktitle={International Conference on Learning Representations}, year={2022}}"""),
    "schroff2015facenet": ("Schroff et al., FaceNet", """@inproceedings{schroff2015facenet,
  title={FaceNet: A Unified Embedding for Face Recognition and Clustering},
  author={Schroff, Florian and Kalenichenko, Dmitry and Philbin, James},
  booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition},
  pages={815--823}, year={2015}}"""),
    "king2009dlib": ("King, Dlib-ml", """@article{king2009dlib,
  title={Dlib-ml: A Machine Learning Toolkit}, author={King, Davis E.},
  journal={Journal of Machine Learning Research}, volume={10}, pages={1755--1758}, year={2009}}"""),
    "ester1996dbscan": ("Ester et al., DBSCAN", """@inproceedings{ester1996dbscan,
  title={A Density-Based Algorithm for Discovering Clusters in Large Spatial Databases with Noise},
  author={Ester, Martin and Kriegel, Hans-Peter and Sander, J{\\"o}rg and Xu, Xiaowei},
  booktitle={Proceedings of the Second International Conference on Knowledge Discovery and Data Mining},
  pages={226--231}, year={1996}}"""),
    "campello2013hdbscan": ("Campello et al., HDBSCAN", """@inproceedings{campello2013hdbscan,
  title={Density-Based Clustering Based on Hierarchical Density Estimates},
  author={Campello, Ricardo J. G. B. and Moulavi, Davoud and Sander, J{\\"o}rg},
  booktitle={Pacific-Asia Conference on Knowledge Discovery and Data Mining}, pages={160--172}, year={2013}}"""),
    "rousseeuw1987silhouette": ("Rousseeuw, Silhouettes", """@article{rousseeuw1987silhouette,
  title={Silhouettes: A Graphical Aid to the Interpretation and Validation of Cluster Analysis},
  author={Rousseeuw, Peter J.}, journal={Journal of Computational and Applied Mathematics},
  volume={20}, pages={53--65}, year={1987}}"""),
    "davies1979cluster": ("Davies and Bouldin", """@article{davies1979cluster,
  title={A Cluster Separation Measure}, author={Davies, David L. and Bouldin, Donald W.},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence}, volume={PAMI-1}, number={2},
  pages={224--227}, year={1979}, doi={10.1109/TPAMI.1979.4766909}}"""),
    "calinski1974dendrite": ("Calinski and Harabasz", """@article{calinski1974dendrite,
  title={A Dendrite Method for Cluster Analysis}, author={Cali{\\'n}ski, Tadeusz and Harabasz, Jerzy},
  journal={Communications in Statistics}, volume={3}, number={1}, pages={1--27}, year={1974}}"""),
    "dunn1973fuzzy": ("Dunn", """@article{dunn1973fuzzy,
  title={A Fuzzy Relative of the ISODATA Process and Its Use in Detecting Compact Well-Separated Clusters},
  author={Dunn, Joseph C.}, journal={Journal of Cybernetics}, volume={3}, number={3}, pages={32--57}, year={1973}}"""),
    "hubert1985ari": ("Hubert and Arabie, ARI", """@article{hubert1985ari,
  title={Comparing Partitions}, author={Hubert, Lawrence and Arabie, Phipps},
  journal={Journal of Classification}, volume={2}, number={1}, pages={193--218}, year={1985}}"""),
    "vinh2010ami": ("Vinh et al., AMI", """@article{vinh2010ami,
  title={Information Theoretic Measures for Clusterings Comparison: Variants, Properties, Normalization and Correction for Chance},
  author={Vinh, Nguyen Xuan and Epps, Julien and Bailey, James},
  journal={Journal of Machine Learning Research}, volume={11}, pages={2837--2854}, year={2010}}"""),
    "amigo2009bcubed": ("Amigo et al., BCubed", """@article{amigo2009bcubed,
  title={A Comparison of Extrinsic Clustering Evaluation Metrics Based on Formal Constraints},
  author={Amig{\\'o}, Enrique and Gonzalo, Julio and Artiles, Javier and Verdejo, Felisa},
  journal={Information Retrieval}, volume={12}, number={4}, pages={461--486}, year={2009}}"""),
    "manning2008ir": ("Manning et al., Introduction to IR", """@book{manning2008ir,
  title={Introduction to Information Retrieval}, author={Manning, Christopher D. and Raghavan, Prabhakar and Sch{\\"u}tze, Hinrich},
  publisher={Cambridge University Press}, year={2008}}"""),
    "vandermaaten2008tsne": ("van der Maaten and Hinton, t-SNE", """@article{vandermaaten2008tsne,
  title={Visualizing Data using t-SNE}, author={van der Maaten, Laurens and Hinton, Geoffrey},
  journal={Journal of Machine Learning Research}, volume={9}, pages={2579--2605}, year={2008}}"""),
    "mcinnes2018umap": ("McInnes et al., UMAP", """@misc{mcinnes2018umap,
  title={UMAP: Uniform Manifold Approximation and Projection for Dimension Reduction},
  author={McInnes, Leland and Healy, John and Melville, James}, howpublished={arXiv preprint arXiv:1802.03426},
  eprint={1802.03426}, archivePrefix={arXiv}, year={2018}}"""),
    "venna2001trustworthiness": ("Venna and Kaski, trustworthiness", """@inproceedings{venna2001trustworthiness,
  title={Neighborhood Preservation in Nonlinear Projection Methods: An Experimental Study},
  author={Venna, Jarkko and Kaski, Samuel}, booktitle={International Conference on Artificial Neural Networks},
  pages={485--491}, year={2001}}"""),
    "facco2017twonn": ("Facco et al., TwoNN", """@article{facco2017twonn,
  title={Estimating the Intrinsic Dimension of Datasets by a Minimal Neighborhood Information},
  author={Facco, Elena and d'Errico, Maria and Rodriguez, Alex and Laio, Alessandro},
  journal={Scientific Reports}, volume={7}, pages={12140}, year={2017}}"""),
    "huang2008lfw": ("Huang et al., LFW", """@techreport{huang2008lfw,
  title={Labeled Faces in the Wild: A Database for Studying Face Recognition in Unconstrained Environments},
  author={Huang, Gary B. and Ramesh, Manu and Berg, Tamara and Learned-Miller, Erik},
  institution={University of Massachusetts, Amherst}, number={07-49}, year={2007}}"""),
    "phillips2005frgc": ("Phillips et al., FRGC", """@inproceedings{phillips2005frgc,
  title={Overview of the Face Recognition Grand Challenge},
  author={Phillips, P. Jonathon and Flynn, Patrick J. and Scruggs, Todd and Bowyer, Kevin W. and Chang, Jin and
    Hoffman, Kevin and Marques, Joe and Min, Jaesik and Worek, William},
  booktitle={IEEE Computer Society Conference on Computer Vision and Pattern Recognition}, volume={1},
  pages={947--954}, year={2005}}"""),
    "pedregosa2011sklearn": ("Pedregosa et al., scikit-learn", """@article{pedregosa2011sklearn,
  title={Scikit-learn: Machine Learning in {P}ython}, author={Pedregosa, Fabian and Varoquaux, Ga{\\"e}l and Gramfort, Alexandre and Michel, Vincent and Thirion, Bertrand
    and Grisel, Olivier and Blondel, Mathieu and Prettenhofer, Peter and Weiss, Ron and Dubourg, Vincent and Vanderplas, Jake
    and Passos, Alexandre and Cournapeau, David and Brucher, Matthieu and Perrot, Matthieu and Duchesnay, {\\'E}douard},
  journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}}"""),
    # Evaluation protocols of the field (verification in ISO terms, 1:N identification).
    "iso19795_1": ("ISO/IEC 19795-1", """@misc{iso19795_1,
  title={Information Technology -- Biometric Performance Testing and Reporting -- Part 1: Principles and Framework},
  author={{ISO/IEC JTC 1/SC 37}}, howpublished={International Standard ISO/IEC 19795-1:2021}, year={2021}}"""),
    "grother_frte11": ("Grother et al., NIST FRTE 1:1", """@techreport{grother_frte11,
  title={Face Recognition Technology Evaluation (FRTE) Part 1: Verification},
  author={Grother, Patrick and Ngan, Mei and Hanaoka, Kayee},
  institution={National Institute of Standards and Technology}, type={NIST Interagency Report, ongoing (formerly FRVT 1:1)},
  year={2024}}"""),
    "grother2019frvt1n": ("Grother et al., NIST FRVT Part 2: Identification", """@techreport{grother2019frvt1n,
  title={Face Recognition Vendor Test (FRVT) Part 2: Identification},
  author={Grother, Patrick and Ngan, Mei and Hanaoka, Kayee},
  institution={National Institute of Standards and Technology}, type={NISTIR}, number={8271}, year={2019},
  doi={10.6028/NIST.IR.8271}}"""),
    "maze2018ijbc": ("Maze et al., IJB-C", """@inproceedings{maze2018ijbc,
  title={IARPA Janus Benchmark - C: Face Dataset and Protocol},
  author={Maze, Brianna and Adams, Jocelyn and Duncan, James A. and Kalka, Nathan and Miller, Tim and Otto, Charles and
    Jain, Anil K. and Niggel, W. Tyler and Anderson, Janet and Cheney, Jordan and Grother, Patrick},
  booktitle={International Conference on Biometrics (ICB)}, pages={158--165}, year={2018}}"""),
    "maio2002fvc": ("Maio et al., FVC2000", """@article{maio2002fvc,
  title={FVC2000: Fingerprint Verification Competition},
  author={Maio, Dario and Maltoni, Davide and Cappelli, Raffaele and Wayman, James L. and Jain, Anil K.},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence}, volume={24}, number={3}, pages={402--412},
  year={2002}}"""),
    "martin1997det": ("Martin et al., DET curve", """@inproceedings{martin1997det,
  title={The DET Curve in Assessment of Detection Task Performance},
  author={Martin, Alvin and Doddington, George and Kamm, Terri and Ordowski, Mark and Przybocki, Mark},
  booktitle={Proceedings of Eurospeech}, pages={1895--1898}, year={1997}}"""),
    "pyeer": ("Aguado Martinez, pyeer", """@misc{pyeer,
  title={PyEER: A Python Package for Biometric Systems Performance Evaluation},
  author={Aguado Mart{\\'i}nez, Manuel}, howpublished={Python package, version 0.5.6, github.com/manuelaguadomtz/pyeer},
  year={2017}}"""),
    "grother2019nistir8280": ("Grother et al., NIST IR 8280", """@techreport{grother2019nistir8280,
  title={Face Recognition Vendor Test ({FRVT}) Part 3: Demographic Effects},
  author={Grother, Patrick and Ngan, Mei and Hanaoka, Kayee},
  institution={National Institute of Standards and Technology}, number={NIST IR 8280}, year={2019},
  doi={10.6028/NIST.IR.8280}}"""),
    "iso19795part10": ("ISO/IEC 19795-10", """@misc{iso19795part10,
  title={ISO/IEC 19795-10:2024 Information Technology -- Biometric Performance Testing and Reporting -- Part 10: Quantifying Biometric System Performance Variation across Demographic Groups},
  author={{ISO/IEC JTC 1/SC 37}}, howpublished={International Organization for Standardization}, year={2024}}"""),
}


_YEAR = re.compile(r"\byear=\{(\d{4})\}")
_TITLE = re.compile(r"\btitle=\{(.*?)\},\s*(?=[a-zA-Z]+=)", re.S)


def protect_capitals(title: str) -> str:
    """Brace every word that has a capital after its first letter or is an acronym (``{ArcFace}``, ``{UMAP}``),
    and every capitalised word, so that styles which lower-case titles keep them as written."""
    def brace(m: re.Match) -> str:
        word = m.group(0)
        return "{" + word + "}" if any(c.isupper() for c in word) else word

    if title.startswith("{") and title.endswith("}"):
        return title
    return re.sub(r"(?<![{\\\w])[A-Za-z][\w-]*", brace, title)


def _protected(entry: str) -> str:
    return _TITLE.sub(lambda m: "title={" + protect_capitals(m.group(1)) + "}, ", entry, count=1)


def _year(entry: str) -> str:
    m = _YEAR.search(entry)
    if m is None:
        raise ValueError(f"bibliography entry without a year: {entry[:60]}")
    return m.group(1)


#: key -> (short label for the site, with the entry's own year; BibTeX entry with protected capitals)
REFERENCES: dict[str, tuple[str, str]] = {
    key: (f"{short}, {_year(entry)}", _protected(entry)) for key, (short, entry) in _ENTRIES.items()
}


def bibtex() -> str:
    """The whole bibliography as one .bib file (sorted by key for determinism)."""
    return "\n\n".join(REFERENCES[k][1] for k in sorted(REFERENCES)) + "\n"


def label(key: str) -> str:
    """Short label of a reference for the site; KeyError names the valid keys."""
    try:
        return REFERENCES[key][0]
    except KeyError:
        raise KeyError(f"unknown reference {key!r}; add it to report/references.py") from None
