//! A table whose rows are swapped between executions of a plan that is planned only once.
//!
//! `MemTable` copies its batches into the physical plan when the plan is built, so a rule
//! evaluated thousands of times (a month of history is ~720 hourly steps × 10 rules) paid
//! DataFusion's physical planning every time, more than half the engine's cost. A
//! [`LiveTable`]'s scan instead reads the table's current rows when it is *executed*, so each
//! rule keeps one physical plan for its lifetime. The scan reports unknown statistics: a plan
//! built on one execution's row counts must never be folded into another's results.

use std::fmt;
use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{project_schema, DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};

type Rows = Arc<RwLock<Vec<RecordBatch>>>;

/// A registered table whose rows are replaced with [`LiveTable::set`] before each execution.
#[derive(Debug)]
pub struct LiveTable {
    schema: SchemaRef,
    rows: Rows,
}

impl LiveTable {
    pub fn new(schema: SchemaRef) -> Self {
        LiveTable {
            schema,
            rows: Arc::new(RwLock::new(Vec::new())),
        }
    }

    /// Replaces the rows every later execution of a plan over this table reads.
    pub fn set(&self, rows: Vec<RecordBatch>) {
        // A poisoned lock only means a panic elsewhere while swapping a Vec; the data is whole.
        *self.rows.write().unwrap_or_else(|e| e.into_inner()) = rows;
    }

    pub fn clear(&self) {
        self.set(Vec::new());
    }
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projected = project_schema(&self.schema, projection)?;
        let properties = PlanProperties::new(
            EquivalenceProperties::new(projected.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Arc::new(LiveScanExec {
            rows: self.rows.clone(),
            projection: projection.cloned(),
            projected,
            limit,
            properties: Arc::new(properties),
        }))
    }
}

/// Reads the table's rows at `execute` time (see the module comment).
#[derive(Debug)]
struct LiveScanExec {
    rows: Rows,
    projection: Option<Vec<usize>>,
    projected: SchemaRef,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for LiveScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LiveScanExec: projection={:?}", self.projection)
    }
}

impl ExecutionPlan for LiveScanExec {
    fn name(&self) -> &str {
        "LiveScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "LiveScanExec is a leaf and takes no children".into(),
            ))
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "LiveScanExec has one partition, asked for {partition}"
            )));
        }
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner()).clone();
        let stream = MemoryStream::try_new(rows, self.projected.clone(), self.projection.clone())?
            .with_fetch(self.limit);
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::collect;
    use datafusion::physical_plan::execution_plan::reset_plan_states;
    use datafusion::prelude::SessionContext;

    fn batch(schema: &SchemaRef, users: &[&str], n: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(users.to_vec())),
                Arc::new(Int64Array::from(n.to_vec())),
            ],
        )
        .unwrap()
    }

    async fn run(plan: &Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> Vec<(String, i64)> {
        let out = collect(reset_plan_states(plan.clone()).unwrap(), ctx.task_ctx())
            .await
            .unwrap();
        let mut rows = Vec::new();
        for b in out {
            let u = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                rows.push((u.value(i).to_string(), n.value(i)));
            }
        }
        rows.sort();
        rows
    }

    /// One physical plan (a hash join and an aggregate) executed over changing rows gives each
    /// execution's own answer: no build side, row count or statistic leaks between executions.
    #[tokio::test]
    async fn a_plan_built_once_reads_the_rows_of_each_execution() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let ctx = SessionContext::new();
        let (logins, known) = (
            Arc::new(LiveTable::new(schema.clone())),
            Arc::new(LiveTable::new(schema.clone())),
        );
        ctx.register_table("logins", logins.clone()).unwrap();
        ctx.register_table("known", known.clone()).unwrap();
        let plan = ctx
            .sql(
                "SELECT l.user_id, count(*) AS c FROM logins l JOIN known k ON k.user_id = l.user_id \
                 GROUP BY l.user_id",
            )
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();

        logins.set(vec![batch(&schema, &["a", "a", "b"], &[1, 2, 3])]);
        known.set(vec![batch(&schema, &["a"], &[0])]);
        assert_eq!(run(&plan, &ctx).await, vec![("a".to_string(), 2)]);

        logins.set(vec![batch(&schema, &["b", "c", "c", "c"], &[1, 2, 3, 4])]);
        known.set(vec![batch(&schema, &["b", "c"], &[0, 0])]);
        assert_eq!(
            run(&plan, &ctx).await,
            vec![("b".to_string(), 1), ("c".to_string(), 3)]
        );

        logins.clear();
        assert_eq!(run(&plan, &ctx).await, Vec::<(String, i64)>::new());
    }
}
