"""OCR-B glyph templates for the MRZ reader, embedded so that the reader does no file I/O.

Rendered from Debian's fonts-ocr-b (OCRB.otf) by `tests.helpers.vision.render_ocrb_glyphs`;
tests/kiosk/vision/test_vision_mrz_reader.py checks that this table still equals a fresh rendering.
Each glyph is a GLYPH_H x GLYPH_W uint8 cell (ink dark), one 2.54 mm advance wide,
cap height GLYPH_CAP px with its top at row GLYPH_TOP.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
GLYPH_W, GLYPH_H = 24, 36
GLYPH_CAP, GLYPH_TOP = 24, 6

_DATA = (
    "eNrtXXeUFUXWv+9NZpgIMzBkGHJSYCRIFkFgRkSQoCAqWVYEEXYJIoiIAZCPJGEJS85BomQRicsSJCpJgoRhiAOT3+vvVofqW13F"
    "+cBzlnP8ePef6febfv26q26uW7c17alQ5uxmcZGRsY2+SxPgM5XApPijBE4uApxifrfx9/Bz5a+Xr5nXAg9e5fCVAIAO2frhYADX"
    "MQufBBBx1zjMKgYw1MJb4+nW8SCA2tZxSYCJ1vE6gDCP+V28/EZ+x/jLV43Da3h42MLvuQAOGocnET9n4Vn+AJuNwwOI/8FvOghg"
    "pXH0M+LJHM8FsMg42ol4CsXn2/hNjodwfC+9vicQYJlxeALxExae6ub3cwvxrRb+G344bhx68wCMt/DVAP4PzePGAK9beF+AStbx"
    "NwDB5pg8yAfQz8Iv4cC1ytEv2RP48CD1wE9156xbP7cJHjS25/dOKXvew34lDHGpugVHbRcYKGdhUj4/cBfv+4fMc1kP0rVniNK7"
    "li79iQwn18ZRc0nDc6qkPpy/OeDt0aDCZwcyyZPwT5HpofdhJ34aAf8J2i9OPDk3hK/XZFw7/PVpTYUb5MOfDn4O+eSKirP6xg7S"
    "nm3KXvVOhajIyEJt13spvDqeq6uXb9jwNCBU4S7H38KPJfvNXLVsMGpJeJ/je/MXnGPYmpQXAIJs3Z7jsY6Ou7g6Fwnt2lcqvDjA"
    "KAV8Eq+zWPF8DYXftehha+E+LTrKNEH8Hae6HYEmDQo7Oev482wUalx2wPPRbkHAJ5kOeAzTKAmHnb84B+HAL7Od8IXcaOF3yo/T"
    "FTn5B4UTEkYMmEMgVirwzYhfVOBoE+GVRIu6cdu9EgTqwdWbS8D78gst69rFpqGpz6p0HR1H6QB3VSKFYQu5ZpkRP3Gcf7a+MKNm"
    "gkm6XB6RfiiFMe57Xid8l3kXbSXuelAX4aRMyc42ZuIuuRZZzCetLc1hTjuEq96VbmU4u8PgpPXOm+loPlSjSyJ+unahYP0fBSTV"
    "7Tk9phhTNBnyyKYxlTNZMeRZzwHUUs3FZLyrnEfIwj0FvgxFLU2Bo8NXWCVqKPbdrA9/rL5lHm3KD+BnRQC3YiAkadTidYuH617f"
    "P6zTDwiz3pnfZU5LG803kwyod1OPankCXMEl2sx9KI9ARs4zJmZfx7TPVsDn0Uv/SYH/DTnhugzfyEU0G6Eh6POdkeF7UQDtFaeP"
    "Rr45JMMZBQCaKk6fjnP7owznlFaz8VI8fbUMe6uhmKBN9Y7reNTJ3HMYG+K/Kf4SQNEs/DsLzQyB94MZIDnwVhitPpDxcxhydf6F"
    "0QgMa345ZvHij6Iag0LX7XhQINPwpyeIcEkrOMw5f9agr/D6Z89JGst5n38ax2EtpAw92sQvfab9w59t8zWZ6PqLgWS62tr4D3Qa"
    "69v4EgC3ZcIaEw79J0C06mfHAhRT4cMwWFM68gB1VHhngIqzlu6R9Psbxh3615mVJeAt+M1XPE7xLXn8I6KMZ476RTBRqGs9lxc3"
    "YGYqSyGXKBgwT3Fj3hoAiao7HgMQq8JX4QhmqTlXiaOSK6qAz4QCdFdESKhu/I450ZtfhAPJejDDtm7ZlP719IFoSqTxbLg1bK5u"
    "1H9YZKH1tzv8EndAdMU23/4qDUtm9rMoZZ4+MR+p8I9x7M7L8DfMW5IN/wJUxxGy6dmF7lWwbGIuxuKUy5FXBnNNxqpvpbMM78Tf"
    "rCK7SZllWXw1YMDoLaLvNoHLV56RhH+yChG18eJtjq8wJK56rfzsb2MeNL6Jn+JWIKt4d6G7Z6UJNW+cnV27UwKguolfx3MGWt+d"
    "iexohrQHEd/NWRs/bLPzkFdpvtEMLPchzvMI2ehdLLHzpRtpzGVdtBS62RbeDSCXNWef4zlDjPzhOAyhOnGfgo1DxS9WrvqGWcTc"
    "PNeq7cltj0/ACjKgh8pbcJGtohe44LU4f7/Ypv98qPCRs7zPhlztFuKvcWZ6WLscJPobbjOBe8zpnyyxHMzqCZyQr2C/4rc6IU8r"
    "FPF2t6hBrVCgCLLqNdnta45X/x/59MEIN/NI8HJknvgUWcmjOg47Jl/8RWT9FfLFWVZHoX7S0WMtq0g0z6bcTqgeQIKCr25gUDtF"
    "cTpzCa4p8H4OV9WiVwA6qnCUsc9VBhbHYJYCz/RTOtBaKj7VJgWe5g+wV/W7X+Tp9KzFWUra+V6JyMgib/0gTn0K96Qa0gTZvcq2"
    "cBW7JvhvUGjg4qXDSgv+ZA7GWM10BZb1Lnprt6iu/pHndmGfhd/GD6ts3c4dTW9xgLq6cHrbAoTaTM0UcePfNS25PQh+URozK8E9"
    "BzC/pkgyeYDrL1i3X0qMCTPqm7CYPczsbp2fRJ3QjKY61AuZC6qRb7zDEo0oXEcqCfZuHX6qpWcxHybh4VQLR4EublrLtOdxRM0v"
    "JLtsm6i75Gbaka2j8cA3E397qW3XrlKGX25OIuquSRY+lyy2oajn3mB+Nxrl1UuUnavhmFXr572N1hFsXTOKatXeZCDm5uFmbbig"
    "3+5OeiWfP7iLvX9SYb+epfWvwz1LRkYWar1CVDZpPd3muCWconnt+vYwRx8R+Sq896Lln5dhCe4HFvwTMkoVPR+X9QH+4wsLb4m2"
    "zGQID4Y2xcz5zcgFMMI6Z7292MLsJvc77+GNrTUvj7i9ehDMmZKtq/FpTffj/PYggLie7CRL8TYGiLlkO6L+9wlvF1nNRiZ5CP5s"
    "XeF5IbpW3dJ6RvU7W+5aEz6MIhLpnVGM48NFq7n72/59P8Srx92XJ4f9zlwZXsDy6LItPIJeXPQlCb5SRGmXkyvQHCGnq0w1tJJ8"
    "AW8VpmtlTzwdxblhqtJ+dUzzWa8/k9RvVLNm3W0yzpb8oZrsQORiuJ/kpW0zmG2FwtWLRevzNydeEw0j8n45Z4ofZWbaBnmBcw1e"
    "+8z9QCn70AegqFerA/CeiFfUkWH6fwldc+tSyyIiwd4tNJbeM5Cjp1G8C0B501trR7kTDXCDxUgof7GEd89Ru3BUzIpyGmfjaKbd"
    "gTq5aZ2MJx+XlDEYA3M3/Ch++wdZnWjjAAJNmfDEEL2XRGpm2gC8ZIV64aTGZipAiCk4mTi8O3gOxGUXx0ws2sN+yE+LDvUJzePR"
    "moEmDZlBue0cWRdzNbH/I+aZ8xyjeJPExMRm9eOZlSyXSXBTDi+9bWbGHbjmedFeSqW49pXJ2U58uB2vUPwm2pM3CL73FNKxrZ8X"
    "sNPezjx5Q48S9z+lfl54jubb95xE+mXzpwVIroPez118roh0xf0zwdilwFneY5ECv2nbdwH/xNZBBP+tJ4rFy455aVqnIFs4Djqk"
    "fK4gnnE/T+bd/TLJbK3tpi8sd/1g+MJLPql5dFoxI0POGWjHOqLPnbfzWWcWwEzp514v5p0tPxNC6Tfu58cpeWfjjv44RT0JjprV"
    "MAi9AGoSvCrOvOHsxPnPJOGUmwds6XQpGQMe/3vqdYF4TZ00qP+I/P9rKvwtWzgF6oCulQrvol680wYA1FDh4wEKqPBNOGrJCjzF"
    "jycZrx1zWP0Ghu8YCl8S/Dsc5wnmndFxfsh8yTYLVvbAge1FL/QDl6Vc4jr7olATdmZFLvQpFehXqJti6VPLzvQJl5Kyxw0cNGmf"
    "vIYxUR/i/ENuyXxr1AKvlPBcemTs+saJ1/YcaM+05xQnzvLl6I4F7JZxbScGX+WyZJxVRcBsBe6pIvAVx1n2z31dgScjw61R4Foc"
    "TWgSvAKJJSlegtZ92XhGEMlpEHyrXd4r4K8JnizHF7joz1q4lym/fHcc+O2FtZjhWSOOZ1gJXZLck1TzCHnFiZxkoLEDHSVo2aO7"
    "9Og/YXe2T2KejO6MGGjTYDvz0VPwIMpzvKmAx1O8CK9za7Of4t1Uv/sU8DanDDqdIeKciiercb5K4cCL3BCvf9KgU+lP97meFCfz"
    "su8R81iC4+8LuL1ucHcIqT/sfdonOI+f3RjE5Ysun3gKk3HeTPLbdPzXivgLxjQmjfKI+FrFzz4NfIouX1ck3AwsP1fjUPwR5w+X"
    "rq/L16Wn/lz/TTw7iK+KizQ6snWWkoG8PhniudcrN+T4K3tOXXQ2ols5FhvPVLMYqyVdQToZazNiVTsBnV4OPxcdvnLJR9HCgvEY"
    "/PSmnp1Krkf8sRyMCqqb05U23V683SUKM6dhGL4oIkeWH2unetCyAMNUeBTNvRNlEmyszU4NczOK2WDhuYy1rTjzgXk+38zRvWEt"
    "eVh4ZcOMZG5csWJFK4K/Ydd+sH1wCSSHE3hXgf+bJIMo7o1HtzlNxvUwt8U9GU9n65f5Byz+fnr3fBTXDtOSbxpKHq3A4bLCUlfW"
    "nMbozbtLdvle8hJzrl964JMulcA1iuBafEpUdV5ItAEgxFo/K2RPNdvX4G9psbwkk/0XwsHPJHDghB4H91u83KCwv+Y4KPFNALkt"
    "PVaUxI9Z7fLzvQOLCjZL9UnO49L9kZZ3OOwGxfvaXNWa4sRBT6L4ze6JiWiUYhITO11w/ka3RyTbfPh/HfeOTbLmJWkosTvbqdqY"
    "Y+N76AYwWim/wN4ANtnnET4xfRLRXOVds8V8xa7ARxav+fBH4Hu2eFX4EjP36MQ7mcsITrytuVaYgjhdNhkCEMa6OyykhS5IR1Bc"
    "Ck3dPTmS1Ezp1JVHleLqS3qiufo1zukCTi6DNrueYueQ9+qJ2z4BUtO62DK8pnpNXAmeN25gr++vDSLFsDUBBpgeJIYs7nUSvjkE"
    "p8wOcSx8GwYyrvGaE/8xFOExmhPfxYq7hT3NOr6HFR9+pjnx/REIO9ohIN4YYy34uybhjD7yKvFqkmI2zx+qwF+OoAVi5H52h8kb"
    "BvT738EGYbKMa5vYWM6UcW0tBsZ+82VcWxGADt5yGdcWotsbuEbGtdlugOBNMq5NRREMtZjgJVLsNd7FlyK17UUT7DTRhJgkX6HU"
    "k8dflGj8RYn67T78L4G7mvP8fNIYrzqu5M13HP0B7M02Qn+ArvN9kvNYlP1qeHh4Mb2Y+1wZPKxrBq779MFtww770X21Rl1NBFtQ"
    "MvoPzaM482ROghMP00sPv0KBDRDwN/T11NoAzXMJ+BxWXq7v8RDxy2jURrDF4ssintISIOF1VijpwGfhucHM4Dnw60bhwiEnzorf"
    "AYp4JfxLhvfSJJx1i2LVgE7cWxIgPF3Gtf7GBm8Jv/1u2ysq3KSnhx9Ac2nnLvLyYlJPpzzEUk/32a/H9w/D81ntVW5WjZ5N/EMo"
    "aYbD08k6su4vLTCOJ5KSHx2v5FHj5vYjGa/hVeBs5+MWBf5hQYCGCnzAWFYMqMBT8xopGCeufYZK/bACvxWmZ/slnBU9+f2qwK+G"
    "sC2iMs6SQIEXFThr0NBbgWtvA+T6RIEfR68uRoFrrxsdRCT8gEuNsx0FSnyHgBP/kGmbUprsHx4sGZpf2b/ItxB2+9AhRdetI0k4"
    "666a2x3wEnNPplts+rQtgDsP0wl8pwB6KEN+vzEdI+lQskN6IF5a349xIIRuF0yN4JtshwEE8J5x8/H3zGq4WyGk0LwDqQNvaVUu"
    "IsUDfMrjBYBIa1+MvYXFUNbm3pkrtOb8vN0o8AwtdmfNCnfYp/zHwpPtutw7dhm70fTQzCl4o8wiQNMHc1urQvVJH8i/A5SxjocC"
    "xFpZvYoAXS38oN0nai9dCPY+D/CcsW8OBaZgFk2UwAfs6b8Qgz9vI9ZCaP6SVs62PZf5Du9woUGJ9ltZAy7g3GT5cHTlQP/SUsWc"
    "7gdl+UyVmpZa9fOzhPLeQ7Yf7qrzk+DPkwrrsZKf37xBQfaVNXJc4P0erUN5ryJemE5yXhRn+8JWKnBPEDehAs7q0rfL+O1aaBtS"
    "bdxv286dO7ct7hcLpOBVjEfK3FHiDa/K4+Af32mTV4yDrqWkpNzJ/mvGa5vtXq+iAHUoNNUnLP9nuJWhKHP2rmgQCO7K4x3/Sn3d"
    "5KDqQmeprEac3RJo3d1nTD/O2rOQFX0MseEboQB12a6OjFeQy+16P/Tpgi7oR9fDAUZzvJEZ9SF9RPpFMbtgWcs9aO8scUmxW1xo"
    "mSF2GwMWBXKtUN4uKGRlETuJDzyF4GiyPLvOGZ7URGKa0E51h0A0XDUAZliPBXp1ewnU8tdYcYelTzy59YdhxRT1L6KK4nV6NXTj"
    "7W1j9GaN4qkjjMhiceDvl9NH1C5F2W/uEjvBcpGwwR7QJvj0EzO1nG5sYwPZv3khhu3/TDAKTToQiT+Yj2gIWuL7Rzs9Dq2wBE8I"
    "FAoKL0wb8uUOj7bVX91YQJtYoL2vXP4x6exgw35NPiZ6zy/YfZnmUIUWQ2aryT0Br4T2q47OD4kCriu+9HmsS/ABCUfeQhGcqcC1"
    "CLrwaeMP/WgJlY1vR7t5TcYz0TWrKtzPx2i/tk5jimCm+rnq5ijxF1NU4+A/VTBViI9NSRkqNaEy7ietGDp1qTKud5kbpMC9qASC"
    "z8q4dgSZv6UC1wuzNyvw5CihYZY9buNpfwPWBNZMDmZVwKGy/c+iLazNb7tKVb/gExwVeTIyFE7B5tY49P5Vxoh9gVKt2jooTZty"
    "5TQmdbBkg9a/2FaHQRt3z6klLkZhwFxSN4BZ1YWdWgW41drppp3aigCMNA/XjyL9QJpisK3Ybq83oUg4LuM5dVgHiXdPSP9I1lsL"
    "ul/d5/xH2sd6ZOlqJ3WC/FXvXQFxcietC71Zb998io7sV1jA854qCdAODblt+e+sukFCLh4JZZeHwqmKmJE1lvreOGT7uTmfe3A8"
    "q+vB3u3KdnsGI7qF0uO2bPg0Ttw3/fA5ex5fohriem0LbiNWQeXMqYuOeXTrLfIzZV695fFJl4rWDBTIWtc45+jrazX2Pe1YHuHO"
    "2awWbH3FqMNJTEwaKxpDX53SXwv/8BGbSk+VLbpX86UOnyg/b9dvOPLzvGZhOtkfRNb9VXlpH/7keH/reAL6jiTMesc6HkJ6lGBQ"
    "WsDMAuZUsGNVPUfaW7chOX3tFRTke5Zlr/ntqlVfM3tVyg6bTkeRdul7CEcc5i9WidshsEr6tMZ5/dxR9cbK28i9mZk+AVNR1qsR"
    "A+xPYyPrmmP3M23V9zCEb1W/7U/mbjPpD1adOEP/QD6xhnuQvmBrUDXS95Jt4jVj6pt+pKNSWggPwpcJ73ppxMONHkK7wFEAkYZ7"
    "g/Hdh5qQINB17QUX3aasZUeZ3QNnoPtIOaWl2VCgPVkJMKUhKNVoODOM4ieNvMMRcLQc9xbU2z+OBQgTkwBv652Mm0ldgP/Fxpq1"
    "1XFU/F3CG1/A2vA4+zqWxbH+FNnf6ZL1wrGupeiZyHqquoRN3+Y6hL/uD8v9NPTYu5zMLTuKh4YWWKM0Xz7xUstXUsRAQb7MEGcv"
    "gB+PdlhSjPTl4ytoaW6+yCS85+a2nfE6S/uwXbJ7JF63l5IMTjUXmR7QZBn7MTP0ywkg71Jhcm0JfzTZW8GWgKzAprheN7ulerU1"
    "en+kXNb8JzA7wjZRRWdqI0mL9aZMP5w0PN4+AFUsvCNAc30PG/TV2pF1twHsnJf09oreegDvWvg49JDvGX1LTpUAGGzhqCzcGCq6"
    "kKVHBZFWCSzoQpkoi/Yqnq6p3TLrJCc63hHlNfIqWy7ojnqQHU3X01/klaFVFrcdG9sdWhr9Wmlf9OnmAiZbXaOlnqxBlRtFLqc4"
    "fWUZ/vAHERH605xoEtkhxydbj0l3a0byvZArYyryzqMLAULND7fzAPCeGqf8uOPSH+hGV3Tl/XQhOR8sOPVXwzB+9hp2wZ82gh9h"
    "ROr73I6N7Q8LIbtlMaZ1dPtlGZSJbN3JUTDpqYo8jcarsLNv8zZp84VJr+p7Q+WI/BCo3xXBlmyFnj1mpiRC78J5ShG9MDlyvl7o"
    "LIpdK5Rd188ijmIbcJpdq7bAqAfc+vuWRjpfSNTQGJgHBdkw2fB6qw3jdCEdmFMJIP99M2MCcTxjMc9u8riaChjqjTLmVb11AN7k"
    "N1+5BI+8DsaX+o9Pch6PrlTMy2tdtpH6eXRvYszsYHZZ8h6oXXYxOZvIhfxCzQFy6/LwECf+OZt3j7jNzodfOXZUoGUIPIuKGv21"
    "+pSxzgXp0/p3ZMQ9wq32RsV6iNUethQf4QZKcNOuKL3OXCFLnbkVPe7v6zuwQ2S/iGWq7XDIpgzU5ZEpz1B+o88j8hu/Vozf75OZ"
    "J6KNJHu4jshdAEkS+tkduS64Ce4ikcGCFkaJNnvRVzPF72Ag5vq3DN/ILcmLTv1QNI4q1EGI+hVIvWjTQpI+DyKuG6EuKNvnZPi3"
    "APX7mDoABCu6/h1HW95HcXprtP2KPvOH3PJ2GUZJAOHy+wK1vS5S+kWoMfq2d2T4R8VmGUZsPhpY5fMjud7bK6aBeVDlqJ+3c/G0"
    "fr7rTJ/c/BlKnrhLBS+OAX+Z16+1FiaGy1leJnhdHMtsf7zGTi68wREVz2G9OlydHexyWd/iV9jxRgXvzEj9yo73611sqjpZm8G2"
    "irm6Ol/Gd0qvkJffF6lHXkUVKzvT2Hq5q4ecMvtdXwcsKvcK8U5nbqOru/yVS830r8jbMb2zovQXBclfuZKk37DiK3P1oesu90u7"
    "2hIe0bkGp8bviGqCr4/d+f+Bff8XmjY1cA=="
)


def glyphs() -> np.ndarray:
    """(len(ALPHABET), GLYPH_H, GLYPH_W) uint8."""
    raw = zlib.decompress(base64.b64decode("".join(_DATA)))
    return np.frombuffer(raw, np.uint8).reshape(len(ALPHABET), GLYPH_H, GLYPH_W).copy()
