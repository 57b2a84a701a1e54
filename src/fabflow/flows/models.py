"""Order flows and their immutable versions."""

from __future__ import annotations

from django.db import models

from fabflow.accounts.models import Space
from fabflow.core.models import UUIDModel


class Flow(UUIDModel):
    """An order flow, unique by space and name; both are fixed once created."""

    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="flows")
    name = models.CharField(max_length=200)
    archived = models.BooleanField(default=False)
    current_version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="flow_unique_name_per_space")
        ]

    def __str__(self) -> str:
        return f"{self.space.key}/{self.name}"


class FlowVersion(UUIDModel):
    """One saved definition of a flow; orders pin the version they started with."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flow_version_unique_number")
        ]
        ordering = ["flow", "-number"]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"


class FlowRun(UUIDModel):
    """The engine's durable state for one order: which stage, and who may advance it now.

    `lease_owner`/`lease_until` make one worker at a time the advancer of a flow run; the
    lease expires, so a killed worker's flows are picked up by another.
    """

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="flow_run")
    flow_version = models.ForeignKey(FlowVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATED)
    stage = models.PositiveIntegerField(default=0)
    generation = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Earliest time something of this run falls due (timer, retry, outside event); None =
    # nothing to do until an outside event arrives. Workers claim runs with due_at <= now.
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Bumped by every outside event (with due_at = now): a holder gives the lease back only if
    # it is unchanged, so an event that arrives while the run is held is never missed.
    wake_seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"flow run of {self.order_id}"


class TaskRun(UUIDModel):
    """One execution of a task definition; its id is the idempotency key of its side effects."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="task_runs")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="task_runs")
    key = models.CharField(max_length=100)
    handler_key = models.CharField(max_length=100)
    stage = models.PositiveIntegerField()
    generation = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    timed_out = models.BooleanField(default=False)
    cancelled_by_failure = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    timeout_at = models.DateTimeField(null=True, blank=True)
    wake_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    # A multi-step handler's own notes between calls (partner ids, the step reached), so that
    # a call after a poll, a retry or a crash resumes instead of repeating a side effect.
    progress = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["order", "state"], name="taskrun_order_state"),
            models.Index(fields=["state", "handler_key"], name="taskrun_state_handler"),
        ]

    def __str__(self) -> str:
        return f"{self.key} #{self.attempt} ({self.state})"

    @property
    def unfinished(self) -> bool:
        return self.state in (self.State.PENDING, self.State.RUNNING, self.State.WAITING)


class FlowInbox(models.Model):
    """Outside events for a flow run (feedback, completion, staff actions), applied in order."""

    id = models.BigAutoField(primary_key=True)
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="inbox")
    task_run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, null=True, blank=True)
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["flow_run", "processed_at"], name="inbox_run_processed"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.flow_run_id}"
