# ruff: noqa: B006, B008  (mutable and call defaults copied from upstream on purpose)
"""Fake ``picamera2.Picamera2``: the real class's public signatures, simulated hardware.

Signatures are copied from raspberrypi/picamera2 ``picamera2/picamera2.py``
(mutable defaults included, as upstream has them). Frames come from a sensor
thread per started camera, like libcamera's request completions; jobs run on
that thread when a frame arrives, as in ``Picamera2.process_requests``.
"""


import copy
import threading
import time
from enum import Enum
from functools import partial

import libcamera
from libcamera import controls

from . import fake_hw
from .job import Job

_VALID_STREAM_KEYS = ("format", "size", "stride", "preserve_ar")
_RGB_FORMATS = ("XBGR8888", "XRGB8888", "RGB888", "BGR888", "RGB161616", "BGR161616")
_YUV_FORMATS = ("NV21", "NV12", "YUV420", "YVU420", "YVYU", "YUYV", "UYVY", "VYUY")


class Preview(Enum):
    NULL = 0
    DRM = 1
    QT = 2
    QTGL = 3


class _Request:
    """A completed request: one frame's array per stream plus metadata."""

    def __init__(self, arrays, metadata, configure_count):
        self.arrays = arrays
        self.metadata = metadata
        self.configure_count = configure_count

    def make_array(self, name):
        return self.arrays[name].copy()

    def get_metadata(self):
        return dict(self.metadata)

    def release(self):
        pass


class Picamera2:
    @staticmethod
    def global_camera_info() -> list:
        with fake_hw.lock:
            cams = list(fake_hw.cameras)
        infos = [
            {"Model": c.model, "Location": c.location, "Rotation": c.rotation, "Id": c.id, "Num": i}
            for i, c in enumerate(cams)
        ]
        return sorted(infos, key=lambda cam: ("/usb" not in cam["Id"], cam["Id"]), reverse=True)

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        self.is_open = False
        self._preview = None
        # As upstream: a missing camera is an IndexError from this lookup.
        camera_num = self.global_camera_info()[camera_num]["Num"]
        self.camera_idx = camera_num
        self._reset_flags()
        with fake_hw.lock:
            sim = fake_hw.cameras[camera_num]
            if sim.held_elsewhere or sim.opened_by is not None:
                raise RuntimeError("Camera __init__ sequence did not complete.")
            sim.opened_by = self
            sim.opens += 1
        self._sim = sim
        self.is_open = True
        self.sensor_resolution = sim.sensor_resolution
        self.sensor_format = "SBGGR10_CSI2P"

    def _reset_flags(self) -> None:
        self.camera_config = None
        self.started = False
        self.configure_count = 0
        self.completed_requests = []
        self._job_list = []
        self._max_queue_len = 1
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._af_scan = 0  # frames left in a triggered autofocus scan
        self._af_state = controls.AfStateEnum.Idle
        self._frame_count = 0

    # --------------------------------------------------------------- properties

    @property
    def camera_properties(self) -> dict:
        if not self.is_open:
            return {}
        w, h = self._sim.sensor_resolution
        return {"Model": self._sim.model, "PixelArraySize": (w, h), "ColorFilterArrangement": 0,
                "Location": self._sim.location, "Rotation": self._sim.rotation}

    @property
    def camera_controls(self) -> dict:
        return dict(self._sim.controls) if self.is_open else {}

    def _is_rpi_camera(self):
        return "ColorFilterArrangement" in self.camera_properties

    # ---------------------------------------------------------- configurations

    @staticmethod
    def _make_initial_stream_config(stream_config: dict, updates: dict, ignore_list=[]) -> dict:
        if updates is None:
            return None
        for key, value in updates.items():
            if key in _VALID_STREAM_KEYS:
                stream_config[key] = value
            elif key in ignore_list:
                pass
            else:
                raise ValueError(f"Bad key {key!r}: valid stream configuration keys are {_VALID_STREAM_KEYS}")
        return stream_config

    @staticmethod
    def align_stream(stream_config: dict, optimal=True) -> None:
        align = 32 if optimal else 2
        size = stream_config["size"]
        stream_config["size"] = (size[0] - size[0] % align, size[1] - size[1] % 2)

    def _make_config(self, main_defaults, main, lores, raw, transform, colour_space, buffer_count,
                     controls, display, encode, queue, sensor, use_case):
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main = self._make_initial_stream_config(dict(main_defaults), main)
        self.align_stream(main, optimal=False)
        lores = self._make_initial_stream_config({"format": "YUV420", "size": main["size"],
                                                  "preserve_ar": False}, lores)
        ignore = ["bit_depth", "crop_limits", "exposure_limits", "fps", "unpacked"]
        raw_defaults = {"format": self.sensor_format, "size": main["size"]}
        raw = self._make_initial_stream_config(raw_defaults, raw, ignore)
        config = {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                  "buffer_count": buffer_count, "queue": queue, "main": main, "lores": lores, "raw": raw,
                  "controls": dict(controls), "sensor": sensor}
        for stream in (display, encode):
            if stream is not None and config.get(stream) is None:
                raise RuntimeError(f"Display stream {stream} was not defined")
        config["display"] = display
        config["encode"] = encode
        return config

    def create_preview_configuration(self, main={}, lores=None, raw={}, transform=libcamera.Transform(),
                                     colour_space=libcamera.ColorSpace.Sycc(), buffer_count=4, controls={},
                                     display="main", encode="main", queue=True, sensor={},
                                     use_case="preview") -> dict:
        defaults = {"format": "XBGR8888", "size": (640, 480), "preserve_ar": True}
        return self._make_config(defaults, main, lores, raw, transform, colour_space, buffer_count,
                                 controls, display, encode, queue, sensor, use_case)

    def create_still_configuration(self, main={}, lores=None, raw={}, transform=libcamera.Transform(),
                                   colour_space=libcamera.ColorSpace.Sycc(), buffer_count=1, controls={},
                                   display=None, encode=None, queue=True, sensor={},
                                   use_case="still") -> dict:
        defaults = {"format": "BGR888", "size": self.sensor_resolution, "preserve_ar": True}
        return self._make_config(defaults, main, lores, raw, transform, colour_space, buffer_count,
                                 controls, display, encode, queue, sensor, use_case)

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=libcamera.Transform(),
                                   colour_space=None, buffer_count=6, controls={}, display="main",
                                   encode="main", queue=True, sensor={}, use_case="video") -> dict:
        defaults = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True}
        colour_space = colour_space or libcamera.ColorSpace.Rec709()
        return self._make_config(defaults, main, lores, raw, transform, colour_space, buffer_count,
                                 controls, display, encode, queue, sensor, use_case)

    @staticmethod
    def check_stream_config(stream_config, name) -> None:
        if type(stream_config) is not dict:
            raise RuntimeError(name + " stream should be a dictionary")
        if "format" not in stream_config:
            raise RuntimeError("format not found in " + name + " stream")
        if "size" not in stream_config:
            raise RuntimeError("size not found in " + name + " stream")
        fmt = stream_config["format"]
        if type(fmt) is not str:
            raise RuntimeError("format in " + name + " stream should be a string")
        if name != "raw" and fmt not in _RGB_FORMATS + _YUV_FORMATS + ("MJPEG",):
            raise RuntimeError("Bad format " + fmt + " in stream " + name)
        size = stream_config["size"]
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError("size in " + name + " stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")

    def check_camera_config(self, camera_config: dict) -> None:
        for name in ["colour_space", "transform", "main", "lores", "raw"]:
            if name not in camera_config:
                raise RuntimeError(f"{name!r} key expected in camera configuration")
        if not isinstance(camera_config["transform"], libcamera.Transform):
            raise RuntimeError("Transform has incorrect type")
        self.check_stream_config(camera_config["main"], "main")
        if camera_config["lores"] is not None:
            self.check_stream_config(camera_config["lores"], "lores")
        if camera_config["raw"] is not None:
            self.check_stream_config(camera_config["raw"], "raw")

    def configure_(self, camera_config="preview") -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if isinstance(camera_config, str) or camera_config is None:
            camera_config = self.create_preview_configuration()
        camera_config = copy.deepcopy(camera_config)
        self.check_camera_config(camera_config)
        for name in ("main", "lores"):
            stream = camera_config[name]
            if stream is not None:
                w, h = stream["size"]
                # The sensor cannot deliver more than it has.
                sw, sh = self._sim.sensor_resolution
                stream["size"] = (min(w, sw), min(h, sh))
                stream["stride"] = stream["size"][0] * (4 if stream["format"].startswith("X") else 3)
        self._set_controls_checked(camera_config["controls"])
        self.camera_config = camera_config
        self._max_queue_len = 1 if camera_config["queue"] and camera_config["buffer_count"] > 1 else 0
        self.configure_count += 1
        self._sim.configs.append(camera_config)

    def configure(self, camera_config=None) -> None:
        self.configure_("preview" if camera_config is None else camera_config)

    def camera_configuration(self) -> dict:
        return self.camera_config

    def stream_configuration(self, name="main") -> dict:
        return self.camera_config[name]

    # -------------------------------------------------------------- running

    def start_(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def start(self, config=None, show_preview=False) -> None:
        if self.camera_config is None and config is None:
            config = "preview"
        if config is not None:
            self.configure(config)
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        if self._thread is None:
            self._running = True
            self._thread = threading.Thread(target=self._sensor_loop, name="fake-libcamera", daemon=True)
            self._thread.start()
        self.start_()

    def stop_(self, request=None) -> None:
        if self.started:
            self.started = False
            self.completed_requests = []
        return (True, None)

    def stop(self) -> None:
        if not self.started and self._thread is None:
            return
        self.stop_()
        thread, self._thread = self._thread, None
        self._running = False
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop()
        with fake_hw.lock:
            if self._sim.opened_by is self:
                self._sim.opened_by = None
        self.is_open = False
        self.camera_config = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_traceback):
        self.close()

    def set_controls(self, controls) -> None:
        self._set_controls_checked(controls)

    def _set_controls_checked(self, ctrls) -> None:
        for name in ctrls:
            if name not in self.camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
        ctrls = dict(ctrls)
        if ctrls.pop("AfTrigger", None) == controls.AfTriggerEnum.Start:
            self._af_scan = self._sim.af_frames
            self._af_state = controls.AfStateEnum.Scanning
        self._sim.applied_controls.update(ctrls)

    # ------------------------------------------------------- the "event loop"

    def _sensor_loop(self) -> None:
        next_t = time.monotonic()
        while self._running:
            self._wake.wait(max(0.0, next_t - time.monotonic()))
            self._wake.clear()
            if not self._running:
                break
            new = []
            if time.monotonic() >= next_t:
                next_t = max(next_t + 1.0 / self._sim.fps, time.monotonic() - 1.0 / self._sim.fps)
                if self.started and self._sim.delivering:
                    new.append(self._make_request())
            self.process_requests(new)

    def _make_request(self):
        self._frame_count += 1
        if self._af_scan > 0:
            self._af_scan -= 1
            if self._af_scan == 0:
                ok = self._sim.af_succeeds
                self._af_state = controls.AfStateEnum.Focused if ok else controls.AfStateEnum.Failed
        arrays = {}
        for name in ("main", "lores"):
            stream = self.camera_config[name]
            if stream is not None:
                arrays[name] = fake_hw.render(stream["size"], stream["format"])
        metadata = {"SensorTimestamp": time.monotonic_ns(), "ExposureTime": 20000, "AnalogueGain": 1.0,
                    "FrameDuration": int(1e6 / self._sim.fps), "Lux": 400.0}
        if self._sim.autofocus:
            metadata["AfState"] = self._af_state
            metadata["LensPosition"] = 1.5
        return _Request(arrays, metadata, self.configure_count)

    def process_requests(self, requests) -> None:
        with self.lock:
            self.completed_requests += requests
            finished_jobs = []
            while self._job_list:
                if self._job_list[0].execute():
                    finished_jobs.append(self._job_list.pop(0))
                else:
                    break
            while len(self.completed_requests) > self._max_queue_len:
                self.completed_requests.pop(0).release()
        for job in finished_jobs:
            job.signal()

    def dispatch_functions(self, functions, wait, signal_function=None, immediate=False) -> None:
        if wait is None:
            wait = signal_function is None
        timeout = wait
        if timeout is True:
            timeout = None
        with self.lock:
            only_job = not self._job_list
            job = Job(functions, signal_function)
            self._job_list.append(job)
            if only_job and (self.completed_requests or immediate):
                self._wake.set()
        return job.get_result(timeout=timeout) if wait else job

    def cancel_all_and_flush(self) -> None:
        with self.lock:
            for job in self._job_list:
                job.cancel()
            self._job_list = []

    def wait(self, job, timeout=None):
        return job.get_result(timeout=timeout)

    # ----------------------------------------------------------------- capture

    def switch_mode_(self, camera_config):
        self.stop_()
        self.configure_(camera_config)
        self.start_()
        return (True, self.camera_config)

    def switch_mode(self, camera_config, wait=None, signal_function=None):
        functions = [partial(self.switch_mode_, camera_config)]
        return self.dispatch_functions(functions, wait, signal_function, immediate=True)

    def set_frame_drops_(self, num_frames):
        self._frame_drops = num_frames
        return (True, None)

    def drop_frames_(self):
        while self.completed_requests:
            if self._frame_drops == 0:
                return (True, None)
            self.completed_requests.pop(0).release()
            self._frame_drops -= 1
        return (False, None)

    def capture_metadata_(self):
        if not self.completed_requests:
            return (False, None)
        request = self.completed_requests.pop(0)
        return (True, request.get_metadata())

    def capture_metadata(self, wait=None, signal_function=None):
        return self.dispatch_functions([self.capture_metadata_], wait, signal_function)

    def capture_array_(self, name):
        if not self.completed_requests:
            return (False, None)
        request = self.completed_requests.pop(0)
        return (True, request.make_array(name))

    def capture_array(self, name="main", wait=None, signal_function=None):
        return self.dispatch_functions([partial(self.capture_array_, name)], wait, signal_function)

    def capture_arrays_and_metadata_(self, names):
        if not self.completed_requests:
            return (False, None)
        request = self.completed_requests.pop(0)
        return (True, ([request.make_array(name) for name in names], request.get_metadata()))

    def capture_arrays(self, names=["main"], wait=None, signal_function=None):
        return self.dispatch_functions([partial(self.capture_arrays_and_metadata_, names)], wait,
                                       signal_function)

    def switch_mode_and_capture_array(self, camera_config, name="main", wait=None, signal_function=None,
                                      delay=0):
        preview_config = self.camera_config

        def capture_array_and_switch_back_(self, preview_config, name):
            done, result = self.capture_array_(name)
            if not done:
                return (False, None)
            self.switch_mode_(preview_config)
            return (True, result)

        functions = [partial(self.switch_mode_, camera_config),
                     partial(self.set_frame_drops_, delay), self.drop_frames_,
                     partial(capture_array_and_switch_back_, self, preview_config, name)]
        return self.dispatch_functions(functions, wait, signal_function, immediate=True)

    def switch_mode_and_capture_arrays(self, camera_config, names=["main"], wait=None, signal_function=None,
                                       delay=0):
        preview_config = self.camera_config

        def capture_arrays_and_switch_back_(self, preview_config, names):
            done, result = self.capture_arrays_and_metadata_(names)
            if not done:
                return (False, None)
            self.switch_mode_(preview_config)
            return (True, result)

        functions = [partial(self.switch_mode_, camera_config),
                     partial(self.set_frame_drops_, delay), self.drop_frames_,
                     partial(capture_arrays_and_switch_back_, self, preview_config, names)]
        return self.dispatch_functions(functions, wait, signal_function, immediate=True)

    def autofocus_cycle(self, wait=None, signal_function=None):
        self.set_controls({"AfMode": controls.AfModeEnum.Auto, "AfTrigger": controls.AfTriggerEnum.Start})

        def wait_for_af_state(self, states):
            if not self.completed_requests:
                return (False, None)
            af_state = self.completed_requests[0].get_metadata()["AfState"]
            self.completed_requests.pop(0).release()
            return (af_state in states, af_state == controls.AfStateEnum.Focused)

        functions = [partial(wait_for_af_state, self, {controls.AfStateEnum.Scanning}),
                     partial(wait_for_af_state, self,
                             {controls.AfStateEnum.Focused, controls.AfStateEnum.Failed,
                              controls.AfStateEnum.Idle})]
        return self.dispatch_functions(functions, wait, signal_function)
