"""Network settings: the remote nodes (add, replace, remove, echo) and this application's own AE
(title, port, calling AE titles allowed to send to us). Credentials are entered here but never shown back."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from fetalviewer import settings
from fetalviewer.net.nodes import Node, NodeStore, local_ae_from_settings
from fetalviewer.ui.net_task import NetTask


class NodeSettingsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM nodes")
        self.resize(720, 600)
        self.store = NodeStore()
        self._task: NetTask | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.node_list = QListWidget()
        self.node_list.currentTextChanged.connect(self._on_node_list_changed)
        row.addWidget(self.node_list, 1)
        form_box = QGroupBox("Node")
        form = QFormLayout(form_box)
        self.name_edit, self.aet_edit, self.host_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(0, 65535)
        self.port_spin.setSpecialValueText("(no DIMSE)")
        self.tls_box = QCheckBox("TLS")
        self.url_edit, self.user_edit = QLineEdit(), QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.Password)
        self.secret_edit.setPlaceholderText("password, or bearer token when no user is given")
        self.url_edit.setPlaceholderText("https://pacs.example/dicom-web")
        for label, widget in (("Name", self.name_edit), ("AE title", self.aet_edit), ("Host", self.host_edit),
                              ("Port", self.port_spin), ("", self.tls_box), ("DICOMweb URL", self.url_edit),
                              ("User", self.user_edit), ("Password / token", self.secret_edit)):  # fmt: skip
            form.addRow(label, widget)
        row.addWidget(form_box, 2)
        layout.addLayout(row)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save node")
        self.remove_button = QPushButton("Remove")
        self.echo_button = QPushButton("Echo")
        self.save_button.clicked.connect(self.save_node)
        self.remove_button.clicked.connect(self.remove_node)
        self.echo_button.clicked.connect(self.echo_node)
        for b in (self.save_button, self.remove_button, self.echo_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        local = local_ae_from_settings()
        local_box = QGroupBox("This workstation (C-MOVE destination and receiving)")
        lf = QFormLayout(local_box)
        self.local_aet_edit = QLineEdit(local.aet)
        self.local_port_spin = QSpinBox()
        self.local_port_spin.setRange(1, 65535)
        self.local_port_spin.setValue(local.port)
        self.allow_edit = QLineEdit(" ".join(local.allow_aets))
        self.allow_edit.setPlaceholderText("calling AE titles allowed to send to us, space separated ('*' any)")
        lf.addRow("Our AE title", self.local_aet_edit)
        lf.addRow("Our port", self.local_port_spin)
        lf.addRow("Allowed senders", self.allow_edit)
        save_local = QPushButton("Save workstation settings")
        save_local.clicked.connect(self.save_local)
        lf.addRow("", save_local)
        layout.addWidget(local_box)
        self.reload()

    def reload(self, select: str | None = None) -> None:
        self.node_list.clear()
        try:
            names = sorted(self.store.load())
        except ValueError as exc:
            self._say(str(exc), error=True)
            names = []
        self.node_list.addItems(names)
        if select in names:
            self.node_list.setCurrentRow(names.index(select))

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #d9534f;" if error else "")
        self.message.setText(text)

    def _on_node_list_changed(self, name: str) -> None:
        node = self.store.load().get(name)
        if node is None:
            return
        self.name_edit.setText(node.name)
        self.aet_edit.setText(node.aet or "")
        self.host_edit.setText(node.host or "")
        self.port_spin.setValue(node.port or 0)
        self.tls_box.setChecked(node.tls)
        self.url_edit.setText(node.dicomweb_url or "")
        self.user_edit.setText(node.username or "")
        self.secret_edit.clear()
        self.secret_edit.setPlaceholderText(f"unchanged ({node.credentials_kind})")

    def node_from_form(self) -> Node:
        name = self.name_edit.text().strip()
        old = self.store.load().get(name)
        secret = self.secret_edit.text() or None
        user = self.user_edit.text().strip() or None
        dimse = bool(self.aet_edit.text().strip() or self.host_edit.text().strip() or self.port_spin.value())
        password = token = None
        if secret is None and old is not None:
            password, token = old.password, old.bearer_token
        elif user:
            password = secret
        else:
            token = secret
        return Node(name, self.aet_edit.text().strip() or None if dimse else None,
                    self.host_edit.text().strip() or None if dimse else None,
                    self.port_spin.value() or None if dimse else None,
                    self.url_edit.text().strip() or None, tls=self.tls_box.isChecked(), username=user,
                    password=password, bearer_token=token)  # fmt: skip

    def save_node(self) -> None:
        try:
            node = self.node_from_form()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self.store.add(node)
        self._say(f"saved {node.describe()}")
        self.reload(select=node.name)

    def remove_node(self) -> None:
        name = self.node_list.currentItem().text() if self.node_list.currentItem() else ""
        if name:
            self.store.remove(name)
            self._say(f"removed node {name}")
            self.reload()

    def save_local(self) -> None:
        allow = tuple(self.allow_edit.text().split())
        try:
            local_ae_from_settings().with_overrides(self.local_aet_edit.text().strip(),
                                                    self.local_port_spin.value(), allow)  # fmt: skip
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        settings.update_settings(local_aet=self.local_aet_edit.text().strip(), local_port=self.local_port_spin.value(),
                                 receive_allow_aets=list(allow))  # fmt: skip
        self._say("workstation settings saved")

    def echo_node(self) -> None:
        from fetalviewer.net.echo import echo

        try:
            node = self.node_from_form()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        local = local_ae_from_settings()
        self.echo_button.setEnabled(False)
        self._say(f"echoing {node.describe()}…")
        self._task = NetTask(lambda progress, cancel: echo(node, local), self)
        self._task.done.connect(lambda results: self._on_echo_done(node, results))
        self._task.failed.connect(self._on_echo_failed)
        self._task.start()

    def _on_echo_done(self, node, results) -> None:
        self.echo_button.setEnabled(True)
        self._say("; ".join(f"{node.name}: {r.protocol} OK in {r.round_trip_ms:.0f} ms" for r in results))

    def _on_echo_failed(self, text: str) -> None:
        self.echo_button.setEnabled(True)
        self._say(text, error=True)
